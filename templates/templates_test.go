package templates

import (
	"math"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/matcornic/hermes"
)

// cssRules maps each selector of a flat CSS text to its declarations.
func cssRules(css string) map[string]map[string]string {
	rules := map[string]map[string]string{}
	for _, m := range regexp.MustCompile(`([^{}]+)\{([^{}]*)\}`).FindAllStringSubmatch(css, -1) {
		decls := map[string]string{}
		for _, d := range strings.Split(m[2], ";") {
			k, v, ok := strings.Cut(d, ":")
			if ok {
				decls[strings.TrimSpace(k)] = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "!important"))
			}
		}
		for _, sel := range strings.Split(m[1], ",") {
			sel = strings.TrimSpace(sel)
			if rules[sel] == nil {
				rules[sel] = map[string]string{}
			}
			for k, v := range decls {
				rules[sel][k] = v
			}
		}
	}
	return rules
}

func luminance(hex string) float64 {
	hex = strings.TrimPrefix(hex, "#")
	var c [3]float64
	for i := range c {
		n, err := strconv.ParseUint(hex[2*i:2*i+2], 16, 8)
		if err != nil {
			panic(hex)
		}
		x := float64(n) / 255
		if x <= 0.03928 {
			c[i] = x / 12.92
		} else {
			c[i] = math.Pow((x+0.055)/1.055, 2.4)
		}
	}
	return 0.2126*c[0] + 0.7152*c[1] + 0.0722*c[2]
}

func contrast(a, b string) float64 {
	la, lb := luminance(a), luminance(b)
	return (max(la, lb) + 0.05) / (min(la, lb) + 0.05)
}

// TestContrast checks WCAG AA (4.5:1) for every text colour of the theme
// against the background it sits on, in light and dark mode.
func TestContrast(t *testing.T) {
	src := Theme{}.HTMLTemplate()
	const open = `<style type="text/css">`
	light := cssRules(src[strings.Index(src, open)+len(open) : strings.Index(src, "</style>")])
	darkStart := strings.Index(src, "prefers-color-scheme:dark){")
	if darkStart < 0 {
		t.Fatal("no dark-mode media query")
	}
	dark := cssRules(src[darkStart+len("prefers-color-scheme:dark){") : strings.LastIndex(src, "</style>")])
	tests := []struct {
		name       string
		rules      map[string]map[string]string
		fg, fgProp string
		bg, bgProp string
	}{
		{"light body text", light, "p", "color", ".card", "background-color"},
		{"light meta", light, ".meta", "color", ".card", "background-color"},
		{"light headings", light, "h3", "color", ".card", "background-color"},
		{"light topics", light, "h2", "color", ".card", "background-color"},
		{"light links", light, "a", "color", ".card", "background-color"},
		{"light footer", light, ".footer-text", "color", "body", "background-color"},
		{"light footer links", light, ".footer-link", "color", "body", "background-color"},
		{"light topbar", light, ".topbar", "color", "body", "background-color"},
		{"light button", light, ".button", "color", ".button-cell", "background-color"},
		{"dark body text", dark, "p", "color", ".card", "background-color"},
		{"dark meta", dark, ".meta", "color", ".card", "background-color"},
		{"dark headings", dark, "h3", "color", ".card", "background-color"},
		{"dark topics", dark, "h2", "color", ".card", "background-color"},
		{"dark links", dark, "a", "color", ".card", "background-color"},
		{"dark footer", dark, ".footer-text", "color", ".footer", "background-color"},
		{"dark footer links", dark, ".footer-link", "color", ".footer", "background-color"},
		{"dark button", dark, ".button", "color", ".button-cell", "background-color"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fg, bg := tt.rules[tt.fg][tt.fgProp], tt.rules[tt.bg][tt.bgProp]
			if fg == "" || bg == "" {
				t.Fatalf("missing colour: %s{%s:%q} %s{%s:%q}", tt.fg, tt.fgProp, fg, tt.bg, tt.bgProp, bg)
			}
			if c := contrast(fg, bg); c < 4.5 {
				t.Errorf("%s on %s: contrast %.2f:1, want ≥ 4.5:1", fg, bg, c)
			}
		})
	}
}

func TestThemeRenders(t *testing.T) {
	h := hermes.Hermes{Theme: Theme{}, Product: hermes.Product{Name: "Gazette", Link: "https://gazette.example"}}
	e := hermes.Email{Body: hermes.Body{
		Name:       "Ada",
		Dictionary: []hermes.Entry{{Key: KeyLang, Value: "fr"}, {Key: "Plan", Value: "Weekly"}},
		Actions: []hermes.Action{
			{Button: hermes.Button{Text: "One", Link: "https://a.example/1"}},
			{Button: hermes.Button{Text: "Two", Link: "https://a.example/2"}},
		},
	}}
	out, err := h.GenerateHTML(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`<html lang="fr" dir="ltr">`, "Hi Ada,", "Weekly", `href="https://a.example/2"`} {
		if !strings.Contains(out, want) {
			t.Errorf("HTML lacks %q", want)
		}
	}
	if strings.Contains(out, KeyLang) {
		t.Errorf("metadata key %q shown in HTML", KeyLang)
	}
	// One "button does not work" line for all actions, not one per action.
	if n := strings.Count(out, "If a button does not work"); n != 1 {
		t.Errorf("button help shown %d times, want 1", n)
	}
	text, err := h.GeneratePlainText(e)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"One: https://a.example/1", "Two: https://a.example/2"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
}

func TestArchiveTemplates(t *testing.T) {
	tm, err := Archive()
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"issue.html.tmpl", "index.html.tmpl", "article.html.tmpl", "head", "foot"} {
		if tm.Lookup(name) == nil {
			t.Errorf("archive template %q missing", name)
		}
	}
}

func TestName(t *testing.T) {
	if got := (Theme{}).Name(); got != "gazette" {
		t.Errorf("Name() = %q", got)
	}
}

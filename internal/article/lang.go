package article

import (
	"strings"
	"unicode"
)

// stopWords are the most frequent function words of each language Gazette
// detects. Counting them is crude but reliable on article-length text in
// these languages, needs no model data, and fails soft: text in another
// language matches few of them and gets no language rather than a wrong one.
var stopWords = map[string]map[string]bool{
	"en": set("the and of to in is that for it was on with as are be by this have from or at not but his her they which their has said would will were been"),
	"de": set("der die das und ist nicht ein eine den dem des mit sich auf für von zu im auch es sie er wird werden hat wurde sind bei aus nach über wie oder"),
	"fr": set("le la les et des est une un du que qui dans pour pas sur au avec il elle sont ce cette ont mais par plus aux été leur nous vous être"),
	"es": set("el la los las y de que en un una es por con para del al se lo su sus como pero más fue son está ha han sobre también este esta entre"),
	"it": set("il lo la gli le e di che è un una per con del della dei non sono alla nel nella anche come più ha hanno questo questa stato essere degli"),
	"pt": set("o a os as e de que do da dos das em um uma para com não por mais foi são está ao aos na no como mas também seu sua ser pelo pela"),
	"nl": set("de het een en van is dat op te in niet zijn met voor die er aan ook als bij wordt werd door maar om heeft naar deze hun nog dan"),
}

func set(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

// detectLanguage returns the ISO 639-1 code of the language the text is
// written in, or "" when the text is too short or too mixed to tell. It
// needs at least 8 stop-word hits and a lead of a quarter over the runner-up
// (closely related languages share many function words).
func detectLanguage(title string, paras []string) string {
	counts := map[string]int{}
	tokens := 0
	count := func(s string) {
		for _, w := range strings.FieldsFunc(strings.ToLower(s), func(r rune) bool {
			return !unicode.IsLetter(r) && r != '\''
		}) {
			tokens++
			for lang, words := range stopWords {
				if words[w] {
					counts[lang]++
				}
			}
		}
	}
	count(title)
	for _, p := range paras {
		count(p)
		if tokens > 3000 {
			break // plenty; keeps 1 MB articles fast
		}
	}
	best, second := "", 0
	for _, lang := range []string{"en", "de", "fr", "es", "it", "pt", "nl"} {
		c := counts[lang]
		switch {
		case best == "" || c > counts[best]:
			if best != "" {
				second = counts[best]
			}
			best = lang
		case c > second:
			second = c
		}
	}
	if counts[best] < 8 || counts[best]*4 < second*5 {
		return ""
	}
	return best
}

// normLang reduces a declared language tag ("en-US", "de_DE", "French") to
// a lower-case primary subtag; names it does not know give "".
func normLang(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if i := strings.IndexAny(s, "-_"); i > 0 {
		s = s[:i]
	}
	switch s {
	case "english":
		return "en"
	case "german", "deutsch":
		return "de"
	case "french", "français", "francais":
		return "fr"
	case "spanish", "español", "espanol":
		return "es"
	case "italian", "italiano":
		return "it"
	case "portuguese", "português", "portugues":
		return "pt"
	case "dutch", "nederlands":
		return "nl"
	}
	if len(s) == 2 || len(s) == 3 {
		for _, r := range s {
			if r < 'a' || r > 'z' {
				return ""
			}
		}
		return s
	}
	return ""
}

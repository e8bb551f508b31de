package main

import (
	"encoding/json"
	"html/template"
)

// page is what one response shows, as HTML or as JSON.
type page struct {
	Publisher string
	Title     string
	Message   string
	Status    string // subscription status, when the page is about one
	Error     bool
	Code      string // machine-readable error code
	Name      string
	// Action and Button make a one-button form posting to Action.
	Action, Button string
	// Prefs turns the form into the preferences form.
	Prefs       bool
	Topics      []string // chosen topics (empty: all)
	Choices     []choice
	Unsubscribe string // URL of the unsubscribe page, on the preferences page
}

type choice struct {
	Topic   string
	Checked bool
}

// json is the page as a JSON document: {"status", "message"} on success,
// {"error": {"code", "message"}} on failure.
func (p page) json() string {
	var v any
	if p.Error {
		v = map[string]any{"error": map[string]string{"code": p.Code, "message": p.Message}}
	} else {
		m := map[string]any{"message": p.Message}
		if p.Status != "" {
			m["status"] = p.Status
		}
		if p.Prefs {
			m["name"] = p.Name
			m["topics"] = p.Topics
			all := make([]string, 0, len(p.Choices))
			for _, c := range p.Choices {
				all = append(all, c.Topic)
			}
			m["availableTopics"] = all
		}
		v = m
	}
	b, err := json.Marshal(v)
	if err != nil {
		return `{"error":{"code":"internal","message":"could not encode the answer"}}`
	}
	return string(b)
}

// pages is the one small, self-contained page every HTML answer uses:
// no external resources (the CSP forbids them), readable on a phone,
// contrast above WCAG AA. html/template escapes every value.
var pages = template.Must(template.New("page").Parse(`<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="robots" content="noindex">
<title>{{.Title}} · {{.Publisher}}</title>
<style>
body{margin:0;background:#f4f4f7;color:#1f2328;font:16px/1.5 -apple-system,BlinkMacSystemFont,"Segoe UI",Roboto,Helvetica,Arial,sans-serif}
main{max-width:34rem;margin:3rem auto;padding:2rem;background:#fff;border-radius:8px}
h1{font-size:1.5rem;margin:0 0 1rem}
.brand{color:#4a4f57;font-size:.9rem;margin:0 0 1.5rem;text-transform:uppercase;letter-spacing:.05em}
.error h1{color:#a4161a}
label{display:block;margin:.75rem 0 .25rem;font-weight:600}
input[type=text]{width:100%;box-sizing:border-box;padding:.5rem;border:1px solid #6b7280;border-radius:4px;font:inherit}
fieldset{border:0;padding:0;margin:1rem 0}
fieldset label{font-weight:normal;display:inline-block;margin-right:1rem}
button{margin-top:1rem;padding:.6rem 1.4rem;background:#1d4ed8;color:#fff;border:0;border-radius:4px;font:inherit;cursor:pointer}
a{color:#1d4ed8}
small{color:#4a4f57}
</style>
</head>
<body>
<main{{if .Error}} class="error"{{end}}>
<p class="brand">{{.Publisher}}</p>
<h1>{{.Title}}</h1>
<p>{{.Message}}</p>
{{- if .Prefs}}
<form method="post" action="{{.Action}}">
<label for="name">Name</label>
<input type="text" id="name" name="name" value="{{.Name}}" maxlength="100" autocomplete="name">
{{- if .Choices}}
<fieldset>
<legend><strong>Topics</strong> <small>(none ticked: all of them)</small></legend>
<input type="hidden" name="_topics" value="1">
{{- range .Choices}}
<label><input type="checkbox" name="topics" value="{{.Topic}}"{{if .Checked}} checked{{end}}> {{.Topic}}</label>
{{- end}}
</fieldset>
{{- end}}
<button type="submit">{{.Button}}</button>
</form>
{{- if .Unsubscribe}}
<p><small>Had enough? <a href="{{.Unsubscribe}}">Unsubscribe</a>.</small></p>
{{- end}}
{{- else if .Action}}
<form method="post" action="{{.Action}}">
<button type="submit">{{.Button}}</button>
</form>
{{- end}}
</main>
</body>
</html>
`))

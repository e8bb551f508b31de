package article

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/gazette-news/gazette/internal/gazette"
)

// htmlBody recognises a body string that is HTML rather than Markdown or
// plain text.
var htmlBody = regexp.MustCompile(`(?i)<(?:p|div|br|h[1-6]|ul|ol|li|blockquote|article|section|figure|table)[\s/>]`)

// orderedItem finds a line that Markdown reads as an ordered list item.
var orderedItem = regexp.MustCompile(`(?m)^\s*\d{1,9}[.)]\s`)

// readJSON reads a programmatic drop: one JSON object with "title" and
// "body" (a string of HTML, Markdown or plain text, or an array of
// paragraphs) and the optional fields of metadata.fill.
func readJSON(text string) (*draft, error) {
	dec := json.NewDecoder(strings.NewReader(text))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, jsonError(text, err)
	}
	if dec.More() {
		return nil, gazette.Errorf(gazette.KindInvalid, "bad_json", "the file holds more than one JSON value; drop one article object per file")
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, gazette.Errorf(gazette.KindInvalid, "bad_json", "the file holds a JSON %s; an article is one JSON object with \"title\" and \"body\"", jsonKind(v))
	}
	m := metadata(obj)
	d := &draft{}
	m.fill(d)
	if d.title == "" {
		d.noTitle = `the JSON object has no "title"`
	}
	switch body := m.get("body", "content", "text", "paragraphs").(type) {
	case string:
		d.paras = bodyParas(body)
	case []any:
		for i, e := range body {
			s, ok := e.(string)
			if !ok {
				return nil, gazette.Errorf(gazette.KindInvalid, "bad_json", "body[%d] is a JSON %s; the body array must hold strings, one per paragraph", i, jsonKind(e))
			}
			d.paras = append(d.paras, bodyParas(s)...)
		}
	case nil:
		return nil, gazette.Errorf(gazette.KindInvalid, "bad_json", `the JSON object has no "body" (a string, or an array of paragraph strings)`)
	default:
		return nil, gazette.Errorf(gazette.KindInvalid, "bad_json", `"body" is a JSON %s; it must be a string or an array of strings`, jsonKind(body))
	}
	return d, nil
}

// bodyParas splits a body string: HTML goes through the sanitiser,
// anything else is read as Markdown (plain text is valid Markdown). Text
// without any Markdown or HTML punctuation skips the renderer: bodies sent
// as thousands of plain paragraphs would otherwise pay for it thousands of
// times.
func bodyParas(s string) []string {
	if htmlBody.MatchString(s) {
		return fragmentParas(s)
	}
	if !strings.ContainsAny(s, "*_[]`#<>&\\|~=-+") && !orderedItem.MatchString(s) {
		return splitBlocks(s)
	}
	var out bytes.Buffer
	if err := markdown.Convert([]byte(s), &out); err != nil {
		return splitBlocks(s)
	}
	return fragmentParas(out.String())
}

// jsonError turns a decoding error into a refusal that says where.
func jsonError(text string, err error) error {
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	off := int64(-1)
	switch {
	case errors.As(err, &se):
		off = se.Offset
	case errors.As(err, &te):
		off = te.Offset
	}
	if off >= 0 && off <= int64(len(text)) {
		line := strings.Count(text[:off], "\n") + 1
		col := off - int64(strings.LastIndexByte(text[:off], '\n')) - 1
		return gazette.Errorf(gazette.KindInvalid, "bad_json", "the file is not valid JSON: %v (line %d, column %d)", err, line, col)
	}
	return gazette.Errorf(gazette.KindInvalid, "bad_json", "the file is not valid JSON: %v", err)
}

func jsonKind(v any) string {
	switch v.(type) {
	case map[string]any:
		return "object"
	case []any:
		return "array"
	case string:
		return "string"
	case json.Number, float64:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

package article

import (
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
)

// Formats Parse reads. The names appear in messages to editors.
const (
	formatText     = "plain text"
	formatMarkdown = "Markdown"
	formatHTML     = "HTML"
	formatJSON     = "JSON"
)

// extFormats maps file extensions to formats.
var extFormats = map[string]string{
	".txt": formatText, ".text": formatText,
	".md": formatMarkdown, ".markdown": formatMarkdown, ".mdown": formatMarkdown, ".mkd": formatMarkdown,
	".html": formatHTML, ".htm": formatHTML, ".xhtml": formatHTML,
	".json": formatJSON,
}

var (
	htmlStart     = regexp.MustCompile(`(?i)^(?:<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>]|<\?xml[^>]*>\s*<(?:!doctype\s+)?html)`)
	frontMatterRe = regexp.MustCompile(`^(?:---|\+\+\+|---yaml|---toml)[ \t]*\n`)
)

// looksLikeHTML reports whether s starts like an HTML document.
func looksLikeHTML(s string) bool {
	return htmlStart.MatchString(strings.TrimLeft(strings.TrimPrefix(s, "\uFEFF"), " \t\r\n"))
}

// detectFormat picks the reader for a file from its content, with the
// extension as the tie-breaker. Content wins when it is unambiguous (a
// .txt that holds a whole HTML page is read as HTML), because editors save
// files under whatever name their tool suggests; the mismatch is reported
// as a warning.
func detectFormat(ext, text string) (format string, warnings []string) {
	byExt := extFormats[ext]
	head := strings.TrimLeft(text, " \t\n")
	var byContent string
	switch {
	case looksLikeHTML(head):
		byContent = formatHTML
	case frontMatterRe.MatchString(head):
		byContent = formatMarkdown
	case strings.HasPrefix(head, "{") && json.Valid([]byte(text)):
		byContent = formatJSON
	}
	switch {
	case byExt == formatJSON:
		// A .json file is parsed as JSON even when invalid, so that the
		// editor learns where the syntax error is.
		return formatJSON, nil
	case byContent == "":
		if byExt == "" {
			return formatText, nil
		}
		return byExt, nil
	case byExt != "" && byExt != byContent:
		return byContent, []string{fmt.Sprintf("the file is named %s but contains %s; it was read as %s", ext, article(byContent), byContent)}
	}
	return byContent, nil
}

func article(format string) string {
	switch format {
	case formatHTML:
		return "an HTML page"
	case formatJSON:
		return "a JSON object"
	case formatMarkdown:
		return "Markdown with front matter"
	}
	return "plain text"
}

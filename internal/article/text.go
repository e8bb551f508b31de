package article

import (
	"fmt"
	"regexp"
	"strings"
	"unicode/utf8"
)

// splitBlocks splits text into paragraphs. Blank lines separate blocks;
// inside a block, lines are joined when the text is hard-wrapped (every
// line but the last is long), and kept apart otherwise, since a block of
// short lines is a list, a menu or a widget whose items the cleaning rules
// need to see one by one.
func splitBlocks(text string) []string {
	var out []string
	for _, block := range blankLines.Split(text, -1) {
		lines := strings.Split(strings.Trim(block, "\n"), "\n")
		wrapped := len(lines) > 1
		for _, l := range lines[:len(lines)-1] {
			if utf8.RuneCountInString(strings.TrimSpace(l)) < 40 {
				wrapped = false
				break
			}
		}
		if wrapped {
			out = append(out, oneLine(strings.Join(lines, " ")))
			continue
		}
		for _, l := range lines {
			if l = oneLine(l); l != "" {
				out = append(out, l)
			}
		}
	}
	return out
}

var blankLines = regexp.MustCompile(`\n[ \t]*\n`)

// titleLabel strips the label of a "Title: …" first line and Markdown
// heading marks.
var titleLabel = regexp.MustCompile(`(?i)^(?:#{1,6}\s+|title\s*:\s*|headline\s*:\s*)`)

// readText reads a plain-text article: the first line that is not page
// chrome (a menu, a breadcrumb) is the title, the rest is the body.
func readText(text string) (*draft, error) {
	d := &draft{}
	skipped := 0
	rest := text
	var first string
	for rest != "" {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		if line = oneLine(line); line == "" {
			continue
		}
		if _, chrome := matchRule(line); chrome {
			skipped++
			continue
		}
		first = line
		break
	}
	switch skipped {
	case 0:
	case 1:
		d.warn("removed 1 line of page chrome above the title")
	default:
		d.warn(fmt.Sprintf("removed %d lines of page chrome above the title", skipped))
	}
	if first == "" {
		d.noTitle = "every line of the file is page chrome (menus, buttons, prompts)"
		return d, nil
	}
	first = titleLabel.ReplaceAllString(first, "")
	switch n := utf8.RuneCountInString(first); {
	case n > maxTitle:
		d.noTitle = fmt.Sprintf("the first line is %d characters long and reads like a paragraph; put the title alone on the first line", n)
		return d, nil
	case len(sentenceEnds(first)) > 1:
		d.noTitle = "the first line holds several sentences and reads like a paragraph; put the title alone on the first line"
		return d, nil
	}
	d.title = first
	d.paras = splitBlocks(rest)
	return d, nil
}

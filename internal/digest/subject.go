package digest

import (
	"fmt"
	"strings"
)

// DefaultSubjectPattern gives subjects like
// "Gazette #12: Xi backs Putin requesting security assurances from the West + 4 more".
//
// Pattern syntax (deliberately not {{…}}, which SES would read as a
// placeholder): {brand}, {number}, {title} (first article's title), {more}
// (articles after the first), {count} (all articles) and {date} are replaced;
// a [bracketed] part is dropped when a variable inside it is empty or 0, so
// "[ + {more} more]" disappears from a one-article issue; a backslash makes
// the next character literal.
const DefaultSubjectPattern = "{brand} #{number}: {title}[ + {more} more]"

// subjectVars are the names a subject pattern may use.
var subjectVars = map[string]bool{"brand": true, "number": true, "title": true, "more": true, "count": true, "date": true}

// subjectPart is one piece of a compiled pattern: literal text, a variable,
// or an optional group of parts.
type subjectPart struct {
	lit      string
	variable string
	group    []subjectPart
}

// compileSubject parses a subject pattern once, so that a bad pattern fails
// Render with a clear message rather than producing a broken subject.
func compileSubject(pattern string) ([]subjectPart, error) {
	parts, rest, err := parseSubject(pattern, false)
	if err != nil {
		return nil, err
	}
	if rest != "" {
		return nil, fmt.Errorf("subject pattern %q: unexpected %q", pattern, rest)
	}
	return parts, nil
}

func parseSubject(s string, inGroup bool) (parts []subjectPart, rest string, err error) {
	var lit strings.Builder
	flush := func() {
		if lit.Len() > 0 {
			parts = append(parts, subjectPart{lit: lit.String()})
			lit.Reset()
		}
	}
	for len(s) > 0 {
		c := s[0]
		switch c {
		case '\\':
			if len(s) < 2 {
				return nil, "", fmt.Errorf("subject pattern: trailing backslash")
			}
			lit.WriteByte(s[1])
			s = s[2:]
		case '{':
			end := strings.IndexByte(s, '}')
			if end < 0 {
				return nil, "", fmt.Errorf("subject pattern: unclosed {")
			}
			name := s[1:end]
			if !subjectVars[name] {
				return nil, "", fmt.Errorf("subject pattern: unknown variable {%s} (want brand, number, title, more, count or date)", name)
			}
			flush()
			parts = append(parts, subjectPart{variable: name})
			s = s[end+1:]
		case '}':
			return nil, "", fmt.Errorf("subject pattern: unexpected }")
		case '[':
			if inGroup {
				return nil, "", fmt.Errorf("subject pattern: nested [")
			}
			flush()
			group, r, err := parseSubject(s[1:], true)
			if err != nil {
				return nil, "", err
			}
			if !strings.HasPrefix(r, "]") {
				return nil, "", fmt.Errorf("subject pattern: unclosed [")
			}
			parts = append(parts, subjectPart{group: group})
			s = r[1:]
		case ']':
			if !inGroup {
				return nil, "", fmt.Errorf("subject pattern: unexpected ]")
			}
			flush()
			return parts, s, nil
		default:
			lit.WriteByte(c)
			s = s[1:]
		}
	}
	if inGroup {
		return nil, "", fmt.Errorf("subject pattern: unclosed [")
	}
	flush()
	return parts, "", nil
}

// expandSubject fills a compiled pattern. It reports false when a variable
// was empty, which is what drops an optional group.
func expandSubject(parts []subjectPart, vars map[string]string) (string, bool) {
	var b strings.Builder
	full := true
	for _, p := range parts {
		switch {
		case p.group != nil:
			if s, ok := expandSubject(p.group, vars); ok {
				b.WriteString(s)
			}
		case p.variable != "":
			v := vars[p.variable]
			if v == "" || v == "0" {
				full = false
			}
			b.WriteString(v)
		default:
			b.WriteString(p.lit)
		}
	}
	return b.String(), full
}

package localstack

import (
	"fmt"
	"os"
	"strings"

	"gopkg.in/yaml.v3"
)

// Template is a parsed CloudFormation/SAM template in long form: every short
// tag (!Ref, !Sub, …) is already turned into its {"Ref": …} / {"Fn::Sub": …}
// map, so the evaluator only knows one syntax.
type Template struct {
	Parameters map[string]any
	Conditions map[string]any
	Globals    map[string]any
	Resources  map[string]*Resource
	Outputs    map[string]any
	// Order lists the resources' logical IDs in template order, so that
	// provisioning is deterministic and follows the author's order among
	// resources that do not depend on each other.
	Order []string
}

// Resource is one entry of the template's Resources section.
type Resource struct {
	LogicalID  string
	Type       string
	Properties map[string]any
	DependsOn  []string
	Condition  string
}

// LoadTemplate reads and parses a template file.
func LoadTemplate(path string) (*Template, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read template: %w", err)
	}
	t, err := ParseTemplate(b)
	if err != nil {
		return nil, fmt.Errorf("parse template %s: %w", path, err)
	}
	return t, nil
}

// ParseTemplate parses template YAML (or JSON, a subset of YAML).
func ParseTemplate(b []byte) (*Template, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(b, &doc); err != nil {
		return nil, err
	}
	if len(doc.Content) == 0 {
		return nil, fmt.Errorf("empty template")
	}
	v, err := FromYAML(&doc)
	if err != nil {
		return nil, err
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("template is not a mapping")
	}
	t := &Template{
		Parameters: asMap(top["Parameters"]),
		Conditions: asMap(top["Conditions"]),
		Globals:    asMap(top["Globals"]),
		Outputs:    asMap(top["Outputs"]),
		Resources:  map[string]*Resource{},
	}
	// Keep the template order of Resources from the node tree: maps lose it.
	root := doc.Content[0]
	for i := 0; i+1 < len(root.Content); i += 2 {
		if root.Content[i].Value != "Resources" {
			continue
		}
		res := root.Content[i+1]
		for j := 0; j+1 < len(res.Content); j += 2 {
			t.Order = append(t.Order, res.Content[j].Value)
		}
	}
	for id, raw := range asMap(top["Resources"]) {
		m, ok := raw.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("resource %s is not a mapping", id)
		}
		r := &Resource{
			LogicalID:  id,
			Properties: asMap(m["Properties"]),
		}
		r.Type, _ = m["Type"].(string)
		if r.Type == "" {
			return nil, fmt.Errorf("resource %s has no Type", id)
		}
		r.Condition, _ = m["Condition"].(string)
		switch d := m["DependsOn"].(type) {
		case string:
			r.DependsOn = []string{d}
		case []any:
			for _, x := range d {
				s, ok := x.(string)
				if !ok {
					return nil, fmt.Errorf("resource %s: DependsOn entries must be strings", id)
				}
				r.DependsOn = append(r.DependsOn, s)
			}
		}
		t.Resources[id] = r
	}
	return t, nil
}

// FromYAML converts a yaml.v3 node tree into plain Go values (map[string]any,
// []any, string, int, float64, bool, nil), turning CloudFormation short tags
// into their long forms:
//
//	!Ref X            → {"Ref": "X"}
//	!GetAtt A.B       → {"Fn::GetAtt": ["A", "B"]}   (list form kept as is)
//	!Condition C      → {"Condition": "C"}
//	!Sub/!If/!Join/…  → {"Fn::Sub": …} and so on for any other !Name.
func FromYAML(n *yaml.Node) (any, error) {
	var v any
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return FromYAML(n.Content[0])
	case yaml.AliasNode:
		return FromYAML(n.Alias)
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			if k.Value == "<<" && k.Tag == "!!merge" {
				merged, err := FromYAML(n.Content[i+1])
				if err != nil {
					return nil, err
				}
				for mk, mv := range asMap(merged) {
					if _, set := m[mk]; !set {
						m[mk] = mv
					}
				}
				continue
			}
			val, err := FromYAML(n.Content[i+1])
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k.Value, err)
			}
			m[k.Value] = val
		}
		v = m
	case yaml.SequenceNode:
		l := make([]any, 0, len(n.Content))
		for _, c := range n.Content {
			val, err := FromYAML(c)
			if err != nil {
				return nil, err
			}
			l = append(l, val)
		}
		v = l
	case yaml.ScalarNode:
		if isShortTag(n.Tag) {
			// A tagged scalar is always a string argument (!Ref Name, !Sub "…").
			v = n.Value
		} else if err := n.Decode(&v); err != nil {
			return nil, fmt.Errorf("line %d: %w", n.Line, err)
		}
	default:
		return nil, fmt.Errorf("line %d: unexpected YAML node kind %d", n.Line, n.Kind)
	}
	if !isShortTag(n.Tag) {
		return v, nil
	}
	return longForm(n, v)
}

func isShortTag(tag string) bool {
	return strings.HasPrefix(tag, "!") && !strings.HasPrefix(tag, "!!")
}

func longForm(n *yaml.Node, v any) (any, error) {
	name := strings.TrimPrefix(n.Tag, "!")
	switch name {
	case "Ref":
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("line %d: !Ref takes a name", n.Line)
		}
		return map[string]any{"Ref": s}, nil
	case "Condition":
		return map[string]any{"Condition": v}, nil
	case "GetAtt":
		if s, ok := v.(string); ok {
			// "A.B.C" splits at the first dot only: attribute names may hold dots
			// (Endpoint.Address).
			res, attr, found := strings.Cut(s, ".")
			if !found {
				return nil, fmt.Errorf("line %d: !GetAtt %q is not Resource.Attribute", n.Line, s)
			}
			return map[string]any{"Fn::GetAtt": []any{res, attr}}, nil
		}
		return map[string]any{"Fn::GetAtt": v}, nil
	}
	return map[string]any{"Fn::" + name: v}, nil
}

func asMap(v any) map[string]any {
	m, _ := v.(map[string]any)
	if m == nil {
		return map[string]any{}
	}
	return m
}

package localstack

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// ResourceResolver answers Ref and Fn::GetAtt for the template's resources.
// The provisioner implements it with the physical IDs it created.
type ResourceResolver interface {
	Ref(logicalID string) (string, error)
	GetAtt(logicalID, attribute string) (string, error)
}

// Evaluator resolves intrinsic functions against parameters, pseudo parameters,
// conditions and resources.
type Evaluator struct {
	Template *Template
	// Params holds every parameter's effective value (defaults + overrides).
	Params    map[string]string
	StackName string
	Region    string
	AccountID string
	Resources ResourceResolver

	conditions map[string]bool
	evaluating map[string]bool
}

// noValue is what {"Ref": "AWS::NoValue"} evaluates to: the enclosing map key or
// list entry is dropped.
type noValueT struct{}

var noValue = noValueT{}

// NewEvaluator computes the effective parameters (defaults, then overrides) and
// fails on an override of an undeclared parameter or a parameter without value.
func NewEvaluator(t *Template, stackName, region, accountID string, overrides map[string]string, res ResourceResolver) (*Evaluator, error) {
	params := map[string]string{}
	for name, raw := range t.Parameters {
		def, ok := asMap(raw)["Default"]
		if !ok {
			continue
		}
		params[name] = scalarString(def)
	}
	for k, v := range overrides {
		if _, declared := t.Parameters[k]; !declared {
			return nil, fmt.Errorf("parameter override %s: not declared in the template", k)
		}
		params[k] = v
	}
	var missing []string
	for name := range t.Parameters {
		if _, ok := params[name]; !ok {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return nil, fmt.Errorf("parameters without default or override: %s", strings.Join(missing, ", "))
	}
	return &Evaluator{
		Template: t, Params: params, StackName: stackName, Region: region, AccountID: accountID,
		Resources: res, conditions: map[string]bool{}, evaluating: map[string]bool{},
	}, nil
}

// Pseudo returns the value of a pseudo parameter such as AWS::Region.
func (e *Evaluator) Pseudo(name string) (string, bool) {
	switch name {
	case "AWS::StackName":
		return e.StackName, true
	case "AWS::Region":
		return e.Region, true
	case "AWS::AccountId":
		return e.AccountID, true
	case "AWS::Partition":
		return "aws", true
	case "AWS::URLSuffix":
		return "amazonaws.com", true
	case "AWS::StackId":
		return fmt.Sprintf("arn:aws:cloudformation:%s:%s:stack/%s/local", e.Region, e.AccountID, e.StackName), true
	case "AWS::NotificationARNs":
		return "", true
	}
	return "", false
}

// Condition evaluates a named condition of the template (memoised).
func (e *Evaluator) Condition(name string) (bool, error) {
	if v, ok := e.conditions[name]; ok {
		return v, nil
	}
	raw, ok := e.Template.Conditions[name]
	if !ok {
		return false, fmt.Errorf("condition %s is not declared", name)
	}
	if e.evaluating[name] {
		return false, fmt.Errorf("condition %s refers to itself", name)
	}
	e.evaluating[name] = true
	defer delete(e.evaluating, name)
	v, err := e.boolean(raw)
	if err != nil {
		return false, fmt.Errorf("condition %s: %w", name, err)
	}
	e.conditions[name] = v
	return v, nil
}

func (e *Evaluator) boolean(raw any) (bool, error) {
	v, err := e.Eval(raw)
	if err != nil {
		return false, err
	}
	switch b := v.(type) {
	case bool:
		return b, nil
	case string:
		return strconv.ParseBool(b)
	}
	return false, fmt.Errorf("not a boolean: %v", v)
}

// Eval resolves every intrinsic function inside v and returns plain values.
func (e *Evaluator) Eval(v any) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				if k == "Ref" || k == "Condition" || strings.HasPrefix(k, "Fn::") {
					out, err := e.intrinsic(k, arg)
					if err != nil {
						return nil, fmt.Errorf("%s: %w", k, err)
					}
					return out, nil
				}
			}
		}
		out := make(map[string]any, len(x))
		for k, val := range x {
			r, err := e.Eval(val)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			if r == noValue {
				continue
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, 0, len(x))
		for i, val := range x {
			r, err := e.Eval(val)
			if err != nil {
				return nil, fmt.Errorf("[%d]: %w", i, err)
			}
			if r == noValue {
				continue
			}
			out = append(out, r)
		}
		return out, nil
	}
	return v, nil
}

// EvalString evaluates v and requires a scalar result, returned as a string.
func (e *Evaluator) EvalString(v any) (string, error) {
	r, err := e.Eval(v)
	if err != nil {
		return "", err
	}
	switch r.(type) {
	case map[string]any, []any:
		return "", fmt.Errorf("expected a scalar, got %T", r)
	}
	return scalarString(r), nil
}

func (e *Evaluator) intrinsic(name string, arg any) (any, error) {
	switch name {
	case "Ref":
		s, ok := arg.(string)
		if !ok {
			return nil, errors.New("takes a name")
		}
		return e.ref(s)
	case "Condition":
		s, ok := arg.(string)
		if !ok {
			return nil, errors.New("takes a condition name")
		}
		return e.Condition(s)
	case "Fn::GetAtt":
		res, attr, err := e.getAttArgs(arg)
		if err != nil {
			return nil, err
		}
		return e.getAtt(res, attr)
	case "Fn::Sub":
		return e.sub(arg)
	case "Fn::If":
		l, ok := arg.([]any)
		if !ok || len(l) != 3 {
			return nil, errors.New("takes [condition, then, else]")
		}
		c, ok := l[0].(string)
		if !ok {
			return nil, errors.New("condition must be a name")
		}
		b, err := e.Condition(c)
		if err != nil {
			return nil, err
		}
		// Only the chosen branch is evaluated, as CloudFormation does: the other
		// may name something that does not exist locally.
		if b {
			return e.Eval(l[1])
		}
		return e.Eval(l[2])
	case "Fn::Not":
		l, ok := arg.([]any)
		if !ok || len(l) != 1 {
			return nil, errors.New("takes [condition]")
		}
		b, err := e.boolean(l[0])
		if err != nil {
			return nil, err
		}
		return !b, nil
	case "Fn::And", "Fn::Or":
		l, ok := arg.([]any)
		if !ok || len(l) == 0 {
			return nil, errors.New("takes a list of conditions")
		}
		for _, c := range l {
			b, err := e.boolean(c)
			if err != nil {
				return nil, err
			}
			if name == "Fn::And" && !b {
				return false, nil
			}
			if name == "Fn::Or" && b {
				return true, nil
			}
		}
		return name == "Fn::And", nil
	case "Fn::Equals":
		l, ok := arg.([]any)
		if !ok || len(l) != 2 {
			return nil, errors.New("takes [a, b]")
		}
		a, err := e.EvalString(l[0])
		if err != nil {
			return nil, err
		}
		b, err := e.EvalString(l[1])
		if err != nil {
			return nil, err
		}
		return a == b, nil
	case "Fn::Join":
		l, ok := arg.([]any)
		if !ok || len(l) != 2 {
			return nil, errors.New("takes [delimiter, list]")
		}
		delim, ok := l[0].(string)
		if !ok {
			return nil, errors.New("delimiter must be a string")
		}
		items, err := e.list(l[1])
		if err != nil {
			return nil, err
		}
		return strings.Join(items, delim), nil
	case "Fn::Select":
		l, ok := arg.([]any)
		if !ok || len(l) != 2 {
			return nil, errors.New("takes [index, list]")
		}
		is, err := e.EvalString(l[0])
		if err != nil {
			return nil, err
		}
		i, err := strconv.Atoi(is)
		if err != nil {
			return nil, fmt.Errorf("index %q: %w", is, err)
		}
		items, err := e.Eval(l[1])
		if err != nil {
			return nil, err
		}
		il, ok := items.([]any)
		if !ok {
			return nil, errors.New("second argument must be a list")
		}
		if i < 0 || i >= len(il) {
			return nil, fmt.Errorf("index %d out of range (%d items)", i, len(il))
		}
		return il[i], nil
	case "Fn::Split":
		l, ok := arg.([]any)
		if !ok || len(l) != 2 {
			return nil, errors.New("takes [delimiter, string]")
		}
		delim, ok := l[0].(string)
		if !ok {
			return nil, errors.New("delimiter must be a string")
		}
		s, err := e.EvalString(l[1])
		if err != nil {
			return nil, err
		}
		parts := strings.Split(s, delim)
		out := make([]any, len(parts))
		for i, p := range parts {
			out[i] = p
		}
		return out, nil
	case "Fn::Base64":
		return nil, errors.New("not supported by the local stack")
	}
	return nil, fmt.Errorf("unknown intrinsic function")
}

func (e *Evaluator) list(v any) ([]string, error) {
	r, err := e.Eval(v)
	if err != nil {
		return nil, err
	}
	l, ok := r.([]any)
	if !ok {
		return nil, fmt.Errorf("expected a list, got %T", r)
	}
	out := make([]string, len(l))
	for i, x := range l {
		out[i] = scalarString(x)
	}
	return out, nil
}

func (e *Evaluator) ref(name string) (any, error) {
	if name == "AWS::NoValue" {
		return noValue, nil
	}
	if v, ok := e.Pseudo(name); ok {
		return v, nil
	}
	if v, ok := e.Params[name]; ok {
		typ := scalarString(asMap(e.Template.Parameters[name])["Type"])
		if typ == "CommaDelimitedList" || strings.HasPrefix(typ, "List<") {
			// List parameters are lists to Ref (for !Join, !Select).
			parts := strings.Split(v, ",")
			out := make([]any, len(parts))
			for i, p := range parts {
				out[i] = strings.TrimSpace(p)
			}
			return out, nil
		}
		return v, nil
	}
	if _, ok := e.Template.Resources[name]; ok {
		if e.Resources == nil {
			return nil, fmt.Errorf("%s: resources are not resolvable here", name)
		}
		return e.Resources.Ref(name)
	}
	return nil, fmt.Errorf("%s is neither a parameter nor a resource", name)
}

func (e *Evaluator) getAttArgs(arg any) (string, string, error) {
	switch a := arg.(type) {
	case string:
		res, attr, ok := strings.Cut(a, ".")
		if !ok {
			return "", "", fmt.Errorf("%q is not Resource.Attribute", a)
		}
		return res, attr, nil
	case []any:
		if len(a) != 2 {
			return "", "", errors.New("takes [resource, attribute]")
		}
		res, ok := a[0].(string)
		if !ok {
			return "", "", errors.New("resource must be a name")
		}
		attr, err := e.EvalString(a[1])
		if err != nil {
			return "", "", err
		}
		return res, attr, nil
	}
	return "", "", errors.New("takes Resource.Attribute or [resource, attribute]")
}

func (e *Evaluator) getAtt(res, attr string) (any, error) {
	if _, ok := e.Template.Resources[res]; !ok {
		return nil, fmt.Errorf("%s is not a resource", res)
	}
	if e.Resources == nil {
		return nil, fmt.Errorf("%s.%s: resources are not resolvable here", res, attr)
	}
	return e.Resources.GetAtt(res, attr)
}

var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

func (e *Evaluator) sub(arg any) (any, error) {
	var format string
	vars := map[string]string{}
	switch a := arg.(type) {
	case string:
		format = a
	case []any:
		if len(a) != 2 {
			return nil, errors.New("takes a string or [string, {variables}]")
		}
		s, ok := a[0].(string)
		if !ok {
			return nil, errors.New("first argument must be a string")
		}
		format = s
		m, ok := a[1].(map[string]any)
		if !ok {
			return nil, errors.New("second argument must be a mapping")
		}
		for k, v := range m {
			r, err := e.EvalString(v)
			if err != nil {
				return nil, fmt.Errorf("variable %s: %w", k, err)
			}
			vars[k] = r
		}
	default:
		return nil, errors.New("takes a string or [string, {variables}]")
	}
	var firstErr error
	out := subVar.ReplaceAllStringFunc(format, func(m string) string {
		name := m[2 : len(m)-1]
		if strings.HasPrefix(name, "!") {
			// ${!Literal} writes ${Literal}.
			return "${" + name[1:] + "}"
		}
		name = strings.TrimSpace(name)
		if v, ok := vars[name]; ok {
			return v
		}
		var (
			v   any
			err error
		)
		if res, attr, ok := strings.Cut(name, "."); ok && !strings.HasPrefix(name, "AWS::") {
			v, err = e.getAtt(res, attr)
		} else {
			v, err = e.ref(name)
		}
		if err != nil {
			if firstErr == nil {
				firstErr = fmt.Errorf("${%s}: %w", name, err)
			}
			return ""
		}
		return scalarString(v)
	})
	if firstErr != nil {
		return nil, firstErr
	}
	return out, nil
}

// References lists the resources that v refers to through Ref, Fn::GetAtt and
// Fn::Sub, so that provisioning can order resources by dependency.
func (t *Template) References(v any) []string {
	seen := map[string]bool{}
	var walk func(any)
	add := func(name string) {
		if _, ok := t.Resources[name]; ok {
			seen[name] = true
		}
	}
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, arg := range x {
				switch k {
				case "Ref":
					if s, ok := arg.(string); ok {
						add(s)
					}
				case "Fn::GetAtt":
					switch a := arg.(type) {
					case string:
						res, _, _ := strings.Cut(a, ".")
						add(res)
					case []any:
						if len(a) > 0 {
							if s, ok := a[0].(string); ok {
								add(s)
							}
						}
					}
				case "Fn::Sub":
					format := ""
					switch a := arg.(type) {
					case string:
						format = a
					case []any:
						if len(a) > 0 {
							format, _ = a[0].(string)
						}
					}
					for _, m := range subVar.FindAllStringSubmatch(format, -1) {
						res, _, _ := strings.Cut(strings.TrimSpace(m[1]), ".")
						add(res)
					}
				}
				walk(arg)
			}
		case []any:
			for _, y := range x {
				walk(y)
			}
		}
	}
	walk(v)
	out := make([]string, 0, len(seen))
	for k := range seen {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// scalarString renders a YAML scalar the way CloudFormation passes it on:
// numbers and booleans as their text.
func scalarString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

package sesmail

import (
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestTemplateData(t *testing.T) {
	tests := []struct {
		name string
		in   map[string]string
		want string
	}{
		{name: "empty", in: map[string]string{}, want: `{}`},
		{name: "nil", want: `{}`},
		{name: "sorted keys", in: map[string]string{"b": "2", "a": "1"}, want: `{"a":"1","b":"2"}`},
		{name: "escapes", in: map[string]string{"name": "Ann \"A\" \\ O'Neil\n\t\x01"}, want: `{"name":"Ann \"A\" \\ O'Neil\n\t\u0001"}`},
		{name: "unicode kept", in: map[string]string{"name": "Zoë 東京 🎉"}, want: `{"name":"Zoë 東京 🎉"}`},
		{name: "line separators escaped", in: map[string]string{"x": "a\u2028b\u2029c"}, want: `{"x":"a\u2028b\u2029c"}`},
		{name: "invalid UTF-8 replaced", in: map[string]string{"x": "a\xffb"}, want: `{"x":"a\ufffdb"}`},
		{name: "URL", in: map[string]string{"unsubscribeUrl": "https://x.example/unsubscribe?token=AbC-_9&x=<y>"},
			want: `{"unsubscribeUrl":"https://x.example/unsubscribe?token=AbC-_9&x=<y>"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := templateData(tt.in); got != tt.want {
				t.Errorf("templateData() = %s, want %s", got, tt.want)
			}
		})
	}
}

// FuzzTemplateData: encoding/json reads back exactly the map, with invalid
// UTF-8 replaced as json.Marshal replaces it.
func FuzzTemplateData(f *testing.F) {
	f.Add("name", "Ann \"A\" \\ \n", "unsubscribeUrl", "https://x.example/u?token=a-b_c")
	f.Add("x", "\xff\u2028\x00", "y", "東京")
	f.Fuzz(func(t *testing.T, k1, v1, k2, v2 string) {
		in := map[string]string{k1: v1, k2: v2}
		var got map[string]string
		if err := json.Unmarshal([]byte(templateData(in)), &got); err != nil {
			t.Fatalf("templateData(%q) is not JSON: %v", in, err)
		}
		// What encoding/json itself makes of in (invalid UTF-8 replaced).
		ref, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		var want map[string]string
		if err := json.Unmarshal(ref, &want); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("read back (-json.Marshal +templateData):\n%s", diff)
		}
	})
}

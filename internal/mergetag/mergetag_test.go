package mergetag

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPersonalize(t *testing.T) {
	e := Email{
		Subject: "Hi {{name}}",
		HTML:    `<p>Hi {{name}}</p><a href="{{unsubscribeUrl}}">x</a>{{ not a key }}`,
		Text:    "Hi {{name}}\nUnsubscribe: {{unsubscribeUrl}}\n{{missing}}.",
	}
	tests := []struct {
		name string
		data map[string]string
		want Email
	}{
		{
			name: "plain",
			data: RecipientData("Ada", "https://x.example/u?t=1&s=2", "https://x.example/p"),
			want: Email{
				Subject: "Hi Ada",
				HTML:    `<p>Hi Ada</p><a href="https://x.example/u?t=1&amp;s=2">x</a>{{ not a key }}`,
				Text:    "Hi Ada\nUnsubscribe: https://x.example/u?t=1&s=2\n.",
			},
		},
		{
			name: "escaped in html only",
			data: RecipientData(`<Bob & "Co">`, "u", "p"),
			want: Email{
				Subject: `Hi <Bob & "Co">`,
				HTML:    `<p>Hi &lt;Bob &amp; &#34;Co&#34;&gt;</p><a href="u">x</a>{{ not a key }}`,
				Text:    "Hi <Bob & \"Co\">\nUnsubscribe: u\n.",
			},
		},
		{
			name: "unknown name",
			data: RecipientData(" ", "u", "p"),
			want: Email{Subject: "Hi there", HTML: `<p>Hi there</p><a href="u">x</a>{{ not a key }}`, Text: "Hi there\nUnsubscribe: u\n."},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, Personalize(e, tt.data)); diff != "" {
				t.Errorf("Personalize (-want +got):\n%s", diff)
			}
		})
	}
}

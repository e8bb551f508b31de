package article

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/gogs/chardet"
	"golang.org/x/net/html/charset"
	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/htmlindex"
	xunicode "golang.org/x/text/encoding/unicode"
	"golang.org/x/text/unicode/norm"

	"github.com/gazette-news/gazette/internal/gazette"
)

// magic lists file signatures of formats editors drop by mistake (an
// attachment instead of its text). Naming the format in the refusal tells
// the editor what went wrong faster than "binary data".
var magic = []struct {
	prefix string
	name   string
}{
	{"%PDF-", "a PDF document"},
	{"PK\x03\x04", "a ZIP archive (or a .docx/.odt/.epub document)"},
	{"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", "a legacy Microsoft Office document"},
	{"\x89PNG\r\n\x1a\n", "a PNG image"},
	{"\xFF\xD8\xFF", "a JPEG image"},
	{"GIF87a", "a GIF image"},
	{"GIF89a", "a GIF image"},
	{"RIFF", "a RIFF media file (WebP, WAV or AVI)"},
	{"\x1F\x8B", "a gzip archive"},
	{"{\\rtf", "an RTF document"},
	{"\x7FELF", "an executable"},
	{"7z\xBC\xAF\x27\x1C", "a 7-Zip archive"},
}

// decoded is the input converted to UTF-8 NFC text.
type decoded struct {
	text     string
	encoding string // "" for UTF-8 input, else the name of the source encoding
	warnings []string
}

// decode turns raw bytes into UTF-8 text in Unicode normal form C. It
// refuses binary data and text whose encoding cannot be decoded cleanly.
//
// The order matters: a byte-order mark is the strongest signal, valid UTF-8
// the next (legacy 8-bit text with non-ASCII letters is almost never valid
// UTF-8 by accident), then a charset an HTML page declares, then a
// statistical guess, and Windows-1252 last because it is what legacy
// Western files are in practice (it is a superset of ISO-8859-1's printable
// characters).
func decode(data []byte, isHTML bool) (decoded, error) {
	var d decoded
	switch {
	case bytes.HasPrefix(data, []byte("\xEF\xBB\xBF")):
		data = data[3:]
	case bytes.HasPrefix(data, []byte("\xFF\xFE")), bytes.HasPrefix(data, []byte("\xFE\xFF")):
		name := "UTF-16LE"
		if data[0] == 0xFE {
			name = "UTF-16BE"
		}
		return decodeUTF16(data, xunicode.UTF16(xunicode.LittleEndian, xunicode.ExpectBOM), name)
	}
	if order, ok := sniffUTF16(data); ok {
		d, err := decodeUTF16(data, xunicode.UTF16(order, xunicode.IgnoreBOM), "UTF-16 without byte-order mark")
		if err == nil {
			d.warnings = append(d.warnings, "the file is UTF-16 without a byte-order mark; it was detected from its zero bytes")
		}
		return d, err
	}
	for _, m := range magic {
		if bytes.HasPrefix(data, []byte(m.prefix)) {
			return d, gazette.Errorf(gazette.KindInvalid, "binary", "the file is %s, not an article; upload its text as .txt, .md, .html or .json", m.name)
		}
	}
	if err := checkBinary(data); err != nil {
		return d, err
	}

	if utf8.Valid(data) {
		d.text = string(data)
	} else {
		enc, name := guessEncoding(data, isHTML)
		out, err := enc.NewDecoder().Bytes(data)
		if err != nil {
			return d, gazette.Errorf(gazette.KindInvalid, "bad_encoding", "the file is neither UTF-8 nor valid %s: %v", name, err)
		}
		d.text = string(out)
		d.encoding = name
		d.warnings = append(d.warnings, fmt.Sprintf("the file is not UTF-8; it was read as %s and converted", name))
	}
	if err := checkReplacement(d.text, d.encoding); err != nil {
		return d, err
	}
	d.text = norm.NFC.String(d.text)
	return d, nil
}

// decodeUTF16 decodes UTF-16 text and refuses it when it is damaged (an odd
// number of bytes, unpaired surrogates).
func decodeUTF16(data []byte, enc encoding.Encoding, name string) (decoded, error) {
	d := decoded{encoding: name}
	if len(data)%2 != 0 {
		return d, gazette.Errorf(gazette.KindInvalid, "bad_encoding", "the file starts like %s but has an odd number of bytes (%d); it is truncated or not UTF-16", name, len(data))
	}
	out, err := enc.NewDecoder().Bytes(data)
	if err != nil {
		return d, gazette.Errorf(gazette.KindInvalid, "bad_encoding", "the file is not valid %s: %v", name, err)
	}
	d.text = string(out)
	if err := checkReplacement(d.text, name); err != nil {
		return d, err
	}
	if err := checkBinary([]byte(d.text)); err != nil {
		return d, err
	}
	d.text = norm.NFC.String(d.text)
	d.warnings = append(d.warnings, fmt.Sprintf("the file is %s; it was converted to UTF-8", name))
	return d, nil
}

// sniffUTF16 recognises UTF-16 without a byte-order mark: text in a Latin
// script then has a zero byte in (almost) every other position.
func sniffUTF16(data []byte) (xunicode.Endianness, bool) {
	n := min(len(data), 4096) &^ 1
	if n < 8 {
		return xunicode.BigEndian, false
	}
	var even, odd int
	for i := 0; i < n; i += 2 {
		if data[i] == 0 {
			even++
		}
		if data[i+1] == 0 {
			odd++
		}
	}
	half := n / 2
	switch {
	case odd*10 >= half*7 && even*10 < half:
		return xunicode.LittleEndian, true
	case even*10 >= half*7 && odd*10 < half:
		return xunicode.BigEndian, true
	}
	return xunicode.BigEndian, false
}

// checkBinary refuses data with NUL bytes or many control characters in its
// first 8 KiB: no text format an editor uses contains them.
func checkBinary(data []byte) error {
	sample := data[:min(len(data), 8192)]
	if i := bytes.IndexByte(sample, 0); i >= 0 {
		return gazette.Errorf(gazette.KindInvalid, "binary", "the file contains a NUL byte at offset %d; it is binary data, not text", i)
	}
	var ctl int
	for _, b := range sample {
		if b < 0x20 && b != '\t' && b != '\n' && b != '\r' && b != '\f' {
			ctl++
		}
	}
	if ctl > 0 && ctl*100 > len(sample) {
		return gazette.Errorf(gazette.KindInvalid, "binary", "%d of the first %d bytes are control characters; the file is binary data, not text", ctl, len(sample))
	}
	return nil
}

// checkReplacement refuses text where decoding produced many U+FFFD
// replacement characters: the guess of its encoding was wrong or the file
// is damaged, and publishing "�" to subscribers is worse than asking again.
func checkReplacement(s, enc string) error {
	bad := strings.Count(s, "\uFFFD")
	if bad == 0 {
		return nil
	}
	total := utf8.RuneCountInString(s)
	if bad >= 3 && bad*200 > total {
		i := strings.Index(s, "\uFFFD")
		if enc == "" {
			enc = "UTF-8"
		}
		return gazette.Errorf(gazette.KindInvalid, "bad_encoding", "%d characters could not be decoded as %s (the first at character %d); save the file as UTF-8 and upload it again", bad, enc, utf8.RuneCountInString(s[:i]))
	}
	return nil
}

// guessEncoding picks the encoding of text that is not valid UTF-8.
func guessEncoding(data []byte, isHTML bool) (encoding.Encoding, string) {
	if isHTML {
		// DetermineEncoding reads <meta charset> and http-equiv in the first
		// 1024 bytes as browsers do, and falls back to windows-1252.
		enc, name, _ := charset.DetermineEncoding(data, "text/html")
		if name != "utf-8" && enc != nil {
			return enc, name
		}
	}
	det := chardet.NewTextDetector()
	if r, err := det.DetectBest(data[:min(len(data), 64<<10)]); err == nil && r.Confidence >= 60 {
		// Only trust the guess for encodings that are not Latin-1 lookalikes:
		// for short Western text the detector often says ISO-8859-x, and
		// Windows-1252 reads those files as well or better.
		switch strings.ToLower(r.Charset) {
		case "iso-8859-1", "windows-1252", "iso-8859-15", "utf-8", "iso-8859-2", "windows-1250":
		default:
			if enc, err := htmlindex.Get(r.Charset); err == nil {
				name, _ := htmlindex.Name(enc)
				return enc, name
			}
		}
	}
	return charmap.Windows1252, "windows-1252"
}

// cleanText removes characters that have no place in published text: C0/C1
// controls other than newline and tab, zero-width and bidi formatting
// marks that hide content, soft hyphens, and the byte-order mark. Unicode
// space variants become plain spaces and CRLF/CR become LF.
func cleanText(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		i += size
		switch {
		case r == '\r':
			if i < len(s) && s[i] == '\n' {
				continue
			}
			b.WriteByte('\n')
		case r == '\n' || r == '\t':
			b.WriteRune(r)
		case r == utf8.RuneError && size == 1:
			b.WriteRune('\uFFFD')
		case r == '\u00AD', r == '\uFEFF', r == '\u200B', r == '\u2060',
			r >= '\u202A' && r <= '\u202E', r >= '\u2066' && r <= '\u2069':
			// invisible: drop
		case r == '\u2028' || r == '\u2029':
			b.WriteByte('\n')
		case unicode.IsControl(r):
			// drop
		case unicode.IsSpace(r):
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

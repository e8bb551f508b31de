package gazette

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// NormalizeEmail folds an address to the form we key and deduplicate on:
// surrounding space trimmed and the whole address lower-cased. (Local parts
// are case-sensitive in theory; no mailbox provider treats them so, and two
// records for one person is the worse failure.)
func NormalizeEmail(email string) string {
	return strings.ToLower(strings.TrimSpace(email))
}

// SubscriberID is the stable identifier of an address: the first 128 bits of
// SHA-256 over the normalised address, in hex. It is what logs, tokens and the
// suppression list carry instead of the address itself.
func SubscriberID(email string) string {
	sum := sha256.Sum256([]byte(NormalizeEmail(email)))
	return hex.EncodeToString(sum[:16])
}

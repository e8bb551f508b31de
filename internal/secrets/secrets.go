// Package secrets reads the token signing keys from AWS Secrets Manager.
package secrets

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// API is the part of the Secrets Manager client this package uses.
type API interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, optFns ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Keys returns the signing keys stored in the secret arn, current first.
// The secret is either a plain string (one key, as the template generates
// it) or JSON {"current": "...", "previous": "..."} while a key is rotated.
func Keys(ctx context.Context, api API, arn string) ([][]byte, error) {
	out, err := api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(arn)})
	if err != nil {
		return nil, fmt.Errorf("read secret %s: %w", arn, err)
	}
	return parse(aws.ToString(out.SecretString))
}

func parse(s string) ([][]byte, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, fmt.Errorf("secret is empty")
	}
	if !strings.HasPrefix(s, "{") {
		return [][]byte{[]byte(s)}, nil
	}
	var v struct{ Current, Previous string }
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		return nil, fmt.Errorf("secret is neither a key nor {\"current\",\"previous\"} JSON: %w", err)
	}
	if v.Current == "" {
		return nil, fmt.Errorf("secret JSON has no \"current\" key")
	}
	keys := [][]byte{[]byte(v.Current)}
	if v.Previous != "" {
		keys = append(keys, []byte(v.Previous))
	}
	return keys, nil
}

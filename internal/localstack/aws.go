package localstack

import (
	"os"
	"path/filepath"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/gazette-news/gazette/internal/awsconfig"
)

// Clients are SDK clients bound to the local stack's endpoints, with dummy
// credentials: nothing built from them can reach real AWS.
type Clients struct {
	S3             *s3.Client
	DynamoDB       *dynamodb.Client
	SQS            *sqs.Client
	SNS            *sns.Client
	SecretsManager *secretsmanager.Client
	SESv2          *sesv2.Client
}

// NewClients builds clients for the given endpoints.
func NewClients(region string, ep Endpoints) *Clients {
	cfg := aws.Config{
		Region:      region,
		Credentials: credentials.NewStaticCredentialsProvider("test", "test", ""),
		// Local emulators answer fast or not at all: fail fast instead of
		// retrying for half a minute.
		RetryMaxAttempts: 3,
		HTTPClient:       awsconfig.HTTPClient(),
	}
	awsEP := aws.String(ep.AWS)
	return &Clients{
		S3: s3.NewFromConfig(cfg, func(o *s3.Options) {
			o.BaseEndpoint = awsEP
			// moto serves buckets path-style; virtual hosts would need DNS.
			o.UsePathStyle = true
		}),
		DynamoDB:       dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = awsEP }),
		SQS:            sqs.NewFromConfig(cfg, func(o *sqs.Options) { o.BaseEndpoint = awsEP }),
		SNS:            sns.NewFromConfig(cfg, func(o *sns.Options) { o.BaseEndpoint = awsEP }),
		SecretsManager: secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) { o.BaseEndpoint = awsEP }),
		SESv2:          sesv2.NewFromConfig(cfg, func(o *sesv2.Options) { o.BaseEndpoint = aws.String(ep.SESv2) }),
	}
}

// Clients returns SDK clients bound to this stack's endpoints.
func (s *Stack) Clients() *Clients {
	return NewClients(s.Region, s.Endpoints)
}

// ToolsDir is where infra/stack.sh installs the stack's tools:
// $GAZETTE_TOOLS, else ~/.cache/gazette-tools (outside the tree, which
// `sam build` copies whole).
func ToolsDir() string {
	if d := os.Getenv("GAZETTE_TOOLS"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return filepath.Join(os.TempDir(), "gazette-tools")
	}
	return filepath.Join(home, ".cache", "gazette-tools")
}

// RIEPath is the aws-lambda-rie binary installed by infra/stack.sh install.
func RIEPath() string {
	return filepath.Join(ToolsDir(), "bin", "aws-lambda-rie")
}

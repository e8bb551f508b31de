package localstack

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	ddbtypes "github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"
	sestypes "github.com/aws/aws-sdk-go-v2/service/sesv2/types"
	"github.com/aws/aws-sdk-go-v2/service/sns"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"
)

// Defaults of the local stack: moto's default account, the region the
// project's tooling assumes, and the stack name of template.yaml's deployment.
const (
	DefaultStackName = "gazette"
	DefaultRegion    = "us-east-1"
	DefaultAccountID = "123456789012"
)

// DefaultEndpoints are the local stack's standard ports on 127.0.0.1.
func DefaultEndpoints() Endpoints {
	return Endpoints{
		AWS:     "http://127.0.0.1:5000",
		SESv2:   "http://127.0.0.1:8005",
		HTTPAPI: "http://127.0.0.1:3000",
		Lambda:  "http://127.0.0.1:3001",
	}
}

// ProvisionOptions configures Provision.
type ProvisionOptions struct {
	Template  *Template
	StackName string
	Region    string
	AccountID string
	// Params overrides parameter defaults (sam deploy --parameter-overrides).
	Params    map[string]string
	Endpoints Endpoints
	Logger    *slog.Logger
}

// Provision creates, in dependency order, every resource of the template that
// the local emulators can hold, and resolves the functions' environments. It is
// idempotent: existing resources are kept (queues get their attributes set
// again), so re-running it on a running stack changes nothing and keeps data.
func Provision(ctx context.Context, o ProvisionOptions) (*Stack, error) {
	if o.StackName == "" {
		o.StackName = DefaultStackName
	}
	if o.Region == "" {
		o.Region = DefaultRegion
	}
	if o.AccountID == "" {
		o.AccountID = DefaultAccountID
	}
	if o.Endpoints == (Endpoints{}) {
		o.Endpoints = DefaultEndpoints()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	p := &provisioner{
		o:   o,
		c:   NewClients(o.Region, o.Endpoints),
		log: o.Logger,
		stack: &Stack{
			StackName: o.StackName, Region: o.Region, AccountID: o.AccountID,
			Endpoints: o.Endpoints, Resources: map[string]*Physical{}, Outputs: map[string]string{},
		},
		byARN: map[string]string{},
	}
	ev, err := NewEvaluator(o.Template, o.StackName, o.Region, o.AccountID, o.Params, p)
	if err != nil {
		return nil, err
	}
	p.ev = ev
	p.stack.Parameters = ev.Params
	order, err := dependencyOrder(o.Template)
	if err != nil {
		return nil, err
	}
	for _, id := range order {
		r := o.Template.Resources[id]
		if r.Condition != "" {
			ok, err := ev.Condition(r.Condition)
			if err != nil {
				return nil, fmt.Errorf("resource %s: %w", id, err)
			}
			if !ok {
				p.log.Info("resource skipped: its condition is false", "resource", id, "condition", r.Condition)
				continue
			}
		}
		if err := p.create(ctx, r); err != nil {
			return nil, fmt.Errorf("provision %s (%s): %w", id, r.Type, err)
		}
	}
	for name, raw := range o.Template.Outputs {
		v, err := ev.EvalString(asMap(raw)["Value"])
		if err != nil {
			p.log.Warn("output not resolvable locally", "output", name, "err", err)
			continue
		}
		p.stack.Outputs[name] = v
	}
	sort.Slice(p.stack.Functions, func(i, j int) bool {
		return p.stack.Functions[i].LogicalID < p.stack.Functions[j].LogicalID
	})
	p.stack.ProvisionedAt = time.Now().UTC().Format(time.RFC3339)
	return p.stack, nil
}

// dependencyOrder sorts resources so that each comes after what it refers to
// (Ref, GetAtt, Sub, DependsOn), keeping template order among the rest.
func dependencyOrder(t *Template) ([]string, error) {
	pos := map[string]int{}
	for i, id := range t.Order {
		pos[id] = i
	}
	ids := make([]string, 0, len(t.Resources))
	for id := range t.Resources {
		ids = append(ids, id)
	}
	// Template order first; resources the order list lacks (none when parsed
	// from YAML) sort by name at the end.
	sort.Slice(ids, func(i, j int) bool {
		pi, iok := pos[ids[i]]
		pj, jok := pos[ids[j]]
		if iok != jok {
			return iok
		}
		if iok {
			return pi < pj
		}
		return ids[i] < ids[j]
	})
	deps := map[string][]string{}
	for _, id := range ids {
		r := t.Resources[id]
		d := t.References(map[string]any{"p": r.Properties, "c": r.Condition})
		for _, x := range r.DependsOn {
			if _, ok := t.Resources[x]; !ok {
				return nil, fmt.Errorf("resource %s depends on unknown resource %s", id, x)
			}
			d = append(d, x)
		}
		deps[id] = slices.DeleteFunc(d, func(x string) bool { return x == id })
	}
	done := map[string]bool{}
	var out []string
	for len(out) < len(ids) {
		progressed := false
		for _, id := range ids {
			if done[id] {
				continue
			}
			ready := true
			for _, d := range deps[id] {
				if !done[d] {
					ready = false
					break
				}
			}
			if ready {
				done[id] = true
				out = append(out, id)
				progressed = true
				// Restart from the top to keep template order as far as possible.
				break
			}
		}
		if !progressed {
			var left []string
			for _, id := range ids {
				if !done[id] {
					left = append(left, id)
				}
			}
			return nil, fmt.Errorf("circular dependency among %s", strings.Join(left, ", "))
		}
	}
	return out, nil
}

type provisioner struct {
	o     ProvisionOptions
	c     *Clients
	ev    *Evaluator
	log   *slog.Logger
	stack *Stack
	// byARN maps provisioned ARNs back to logical IDs (event sources name
	// queues by ARN).
	byARN map[string]string
}

// Ref implements ResourceResolver.
func (p *provisioner) Ref(id string) (string, error) {
	ph, ok := p.stack.Resources[id]
	if !ok {
		return "", fmt.Errorf("resource %s is not provisioned (yet)", id)
	}
	return ph.PhysicalID, nil
}

// GetAtt implements ResourceResolver.
func (p *provisioner) GetAtt(id, attr string) (string, error) {
	ph, ok := p.stack.Resources[id]
	if !ok {
		return "", fmt.Errorf("resource %s is not provisioned (yet)", id)
	}
	v, ok := ph.Attributes[attr]
	if !ok {
		return "", fmt.Errorf("attribute %s.%s is not available locally", id, attr)
	}
	return v, nil
}

// physicalName is the resource's explicit name property, else
// <StackName>-<LogicalId>: deterministic, so re-provisioning finds it again and
// a second stack name never collides with the first.
func (p *provisioner) physicalName(r *Resource, props map[string]any, nameProp string) string {
	if s, ok := props[nameProp].(string); ok && s != "" {
		return s
	}
	return p.o.StackName + "-" + r.LogicalID
}

func (p *provisioner) record(r *Resource, ph *Physical) {
	ph.Type = r.Type
	p.stack.Resources[r.LogicalID] = ph
	if ph.ARN != "" {
		p.byARN[ph.ARN] = r.LogicalID
	}
}

func (p *provisioner) skip(r *Resource, physicalID, reason string) {
	p.log.Info("resource not created locally", "resource", r.LogicalID, "type", r.Type, "reason", reason)
	p.record(r, &Physical{PhysicalID: physicalID, Skipped: reason, Attributes: map[string]string{}})
}

func (p *provisioner) create(ctx context.Context, r *Resource) error {
	switch r.Type {
	case "AWS::Serverless::Function":
		return p.function(r)
	case "AWS::S3::Bucket":
		return p.bucket(ctx, r)
	case "AWS::DynamoDB::Table":
		return p.table(ctx, r)
	case "AWS::SQS::Queue":
		return p.queue(ctx, r)
	case "AWS::SNS::Topic":
		return p.topic(ctx, r)
	case "AWS::SNS::Subscription":
		return p.subscription(ctx, r)
	case "AWS::SecretsManager::Secret":
		return p.secret(ctx, r)
	case "AWS::SES::ConfigurationSet":
		return p.configurationSet(ctx, r)
	case "AWS::SES::ConfigurationSetEventDestination":
		return p.eventDestination(ctx, r)
	case "AWS::SQS::QueuePolicy", "AWS::SNS::TopicPolicy", "AWS::S3::BucketPolicy", "AWS::IAM::Role", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy":
		p.skip(r, p.o.StackName+"-"+r.LogicalID, "policies are not enforced by moto")
	case "AWS::Serverless::HttpApi", "AWS::Serverless::Api":
		p.skip(r, p.o.StackName+"-"+r.LogicalID, "served by `gazette stack serve` on "+p.o.Endpoints.HTTPAPI)
	default:
		p.skip(r, p.o.StackName+"-"+r.LogicalID, "resource type not emulated locally")
	}
	return nil
}

func (p *provisioner) props(r *Resource) (map[string]any, error) {
	v, err := p.ev.Eval(r.Properties)
	if err != nil {
		return nil, err
	}
	return asMap(v), nil
}

// apiErrorCode returns the API error code of err, or "".
func apiErrorCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	return ""
}

// ---------------------------------------------------------------- S3

func (p *provisioner) bucket(ctx context.Context, r *Resource) error {
	props, err := p.props(r)
	if err != nil {
		return err
	}
	name := strings.ToLower(p.physicalName(r, props, "BucketName"))
	if _, herr := p.c.S3.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(name)}); herr == nil {
		err = nil
		p.log.Info("bucket exists", "resource", r.LogicalID, "bucket", name)
	} else {
		_, err = p.c.S3.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
		if err == nil {
			p.log.Info("bucket created", "resource", r.LogicalID, "bucket", name)
		}
	}
	switch code := apiErrorCode(err); {
	case err == nil:
	case code == "BucketAlreadyOwnedByYou" || code == "BucketAlreadyExists":
		p.log.Info("bucket exists", "resource", r.LogicalID, "bucket", name)
	default:
		return fmt.Errorf("create bucket %s: %w", name, err)
	}
	if nc, ok := props["NotificationConfiguration"].(map[string]any); ok {
		if err := p.bucketNotifications(ctx, r, name, nc); err != nil {
			return err
		}
	}
	if vc, ok := props["VersioningConfiguration"].(map[string]any); ok {
		st, _ := vc["Status"].(string)
		if _, err := p.c.S3.PutBucketVersioning(ctx, &s3.PutBucketVersioningInput{
			Bucket:                  aws.String(name),
			VersioningConfiguration: &s3types.VersioningConfiguration{Status: s3types.BucketVersioningStatus(st)},
		}); err != nil {
			return fmt.Errorf("bucket %s versioning: %w", name, err)
		}
	}
	arn := "arn:aws:s3:::" + name
	p.record(r, &Physical{
		PhysicalID: name, ARN: arn, URL: p.o.Endpoints.AWS + "/" + name,
		Attributes: map[string]string{
			"Arn":                 arn,
			"DomainName":          name + ".s3.amazonaws.com",
			"RegionalDomainName":  name + ".s3." + p.o.Region + ".amazonaws.com",
			"DualStackDomainName": name + ".s3.dualstack." + p.o.Region + ".amazonaws.com",
			// Locally the "website" is moto serving the bucket path-style, so
			// "${Bucket.WebsiteURL}/archive" reads archive/ pages from moto.
			"WebsiteURL": p.o.Endpoints.AWS + "/" + name,
		},
	})
	return nil
}

func (p *provisioner) bucketNotifications(ctx context.Context, r *Resource, bucket string, nc map[string]any) error {
	cfg := &s3types.NotificationConfiguration{}
	for _, raw := range asList(nc["QueueConfigurations"]) {
		q := asMap(raw)
		arn, _ := q["Queue"].(string)
		ev, _ := q["Event"].(string)
		if arn == "" || ev == "" {
			return fmt.Errorf("queue notification needs Event and Queue")
		}
		qc := s3types.QueueConfiguration{QueueArn: aws.String(arn), Events: []s3types.Event{s3types.Event(ev)}}
		if rules := asList(asMap(asMap(q["Filter"])["S3Key"])["Rules"]); len(rules) > 0 {
			f := &s3types.S3KeyFilter{}
			for _, rr := range rules {
				m := asMap(rr)
				f.FilterRules = append(f.FilterRules, s3types.FilterRule{
					Name:  s3types.FilterRuleName(strings.ToLower(scalarString(m["Name"]))),
					Value: aws.String(scalarString(m["Value"])),
				})
			}
			qc.Filter = &s3types.NotificationConfigurationFilter{Key: f}
		}
		cfg.QueueConfigurations = append(cfg.QueueConfigurations, qc)
	}
	for _, key := range []string{"TopicConfigurations", "LambdaConfigurations", "EventBridgeConfiguration"} {
		if _, ok := nc[key]; ok {
			p.log.Warn("bucket notification kind not emulated locally", "resource", r.LogicalID, "kind", key)
		}
	}
	// Put only on change: S3 (and moto) sends an s3:TestEvent message to every
	// configured queue on each put, which a re-run should not add again.
	if cur, err := p.c.S3.GetBucketNotificationConfiguration(ctx, &s3.GetBucketNotificationConfigurationInput{Bucket: aws.String(bucket)}); err == nil &&
		queueConfigKey(cur.QueueConfigurations) == queueConfigKey(cfg.QueueConfigurations) {
		p.log.Info("bucket notifications unchanged", "resource", r.LogicalID, "queues", len(cfg.QueueConfigurations))
		return nil
	}
	if _, err := p.c.S3.PutBucketNotificationConfiguration(ctx, &s3.PutBucketNotificationConfigurationInput{
		Bucket: aws.String(bucket), NotificationConfiguration: cfg,
	}); err != nil {
		return fmt.Errorf("bucket %s notifications: %w", bucket, err)
	}
	p.log.Info("bucket notifications set", "resource", r.LogicalID, "queues", len(cfg.QueueConfigurations))
	return nil
}

// queueConfigKey renders queue notifications comparably (IDs ignored).
func queueConfigKey(qs []s3types.QueueConfiguration) string {
	var parts []string
	for _, q := range qs {
		var evs, rules []string
		for _, e := range q.Events {
			evs = append(evs, string(e))
		}
		if q.Filter != nil && q.Filter.Key != nil {
			for _, r := range q.Filter.Key.FilterRules {
				rules = append(rules, strings.ToLower(string(r.Name))+"="+aws.ToString(r.Value))
			}
		}
		sort.Strings(evs)
		sort.Strings(rules)
		parts = append(parts, aws.ToString(q.QueueArn)+"|"+strings.Join(evs, ",")+"|"+strings.Join(rules, ","))
	}
	sort.Strings(parts)
	return strings.Join(parts, "\n")
}

// ---------------------------------------------------------------- DynamoDB

func (p *provisioner) table(ctx context.Context, r *Resource) error {
	props, err := p.props(r)
	if err != nil {
		return err
	}
	name := p.physicalName(r, props, "TableName")
	var in dynamodb.CreateTableInput
	// CloudFormation's table properties are the API's shapes with the same
	// names, so JSON carries them over (enums are strings in the SDK).
	shape := map[string]any{}
	for _, k := range []string{"AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "LocalSecondaryIndexes", "BillingMode", "ProvisionedThroughput", "TableClass"} {
		if v, ok := props[k]; ok {
			shape[k] = numbersIn(v)
		}
	}
	b, err := json.Marshal(shape)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &in); err != nil {
		return fmt.Errorf("table properties: %w", err)
	}
	in.TableName = aws.String(name)
	if ss, ok := props["StreamSpecification"].(map[string]any); ok {
		in.StreamSpecification = &ddbtypes.StreamSpecification{
			StreamEnabled:  aws.Bool(true),
			StreamViewType: ddbtypes.StreamViewType(scalarString(ss["StreamViewType"])),
		}
	}
	if in.BillingMode == "" && in.ProvisionedThroughput == nil {
		in.BillingMode = ddbtypes.BillingModePayPerRequest
	}
	var desc *ddbtypes.TableDescription
	if out, err := p.c.DynamoDB.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(name)}); err == nil {
		desc = out.Table
		p.log.Info("table exists", "resource", r.LogicalID, "table", name)
	} else if apiErrorCode(err) != "ResourceNotFoundException" {
		return fmt.Errorf("describe table %s: %w", name, err)
	} else {
		out, err := p.c.DynamoDB.CreateTable(ctx, &in)
		if err != nil {
			return fmt.Errorf("create table %s: %w", name, err)
		}
		desc = out.TableDescription
		p.log.Info("table created", "resource", r.LogicalID, "table", name, "gsis", len(in.GlobalSecondaryIndexes))
	}
	if ttl, ok := props["TimeToLiveSpecification"].(map[string]any); ok && isTrue(ttl["Enabled"]) {
		attr := scalarString(ttl["AttributeName"])
		cur, err := p.c.DynamoDB.DescribeTimeToLive(ctx, &dynamodb.DescribeTimeToLiveInput{TableName: aws.String(name)})
		if err != nil {
			return fmt.Errorf("table %s TTL: %w", name, err)
		}
		d := cur.TimeToLiveDescription
		if d == nil || d.TimeToLiveStatus != ddbtypes.TimeToLiveStatusEnabled || aws.ToString(d.AttributeName) != attr {
			if _, err := p.c.DynamoDB.UpdateTimeToLive(ctx, &dynamodb.UpdateTimeToLiveInput{
				TableName:               aws.String(name),
				TimeToLiveSpecification: &ddbtypes.TimeToLiveSpecification{AttributeName: aws.String(attr), Enabled: aws.Bool(true)},
			}); err != nil {
				return fmt.Errorf("table %s TTL: %w", name, err)
			}
			p.log.Info("table TTL enabled", "resource", r.LogicalID, "attribute", attr)
		}
	}
	arn := aws.ToString(desc.TableArn)
	if arn == "" {
		arn = fmt.Sprintf("arn:aws:dynamodb:%s:%s:table/%s", p.o.Region, p.o.AccountID, name)
	}
	attrs := map[string]string{"Arn": arn}
	if desc.LatestStreamArn != nil {
		attrs["StreamArn"] = *desc.LatestStreamArn
	}
	p.record(r, &Physical{PhysicalID: name, ARN: arn, Attributes: attrs})
	return nil
}

// numbersIn turns numeric strings under ProvisionedThroughput-like keys into
// numbers: templates often quote them, the SDK's JSON wants numbers.
func numbersIn(v any) any {
	switch x := v.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, val := range x {
			if s, ok := val.(string); ok && (strings.HasSuffix(k, "CapacityUnits")) {
				if n, err := strconv.ParseInt(s, 10, 64); err == nil {
					out[k] = n
					continue
				}
			}
			out[k] = numbersIn(val)
		}
		return out
	case []any:
		out := make([]any, len(x))
		for i, val := range x {
			out[i] = numbersIn(val)
		}
		return out
	}
	return v
}

// ---------------------------------------------------------------- SQS

var queueAttributeNames = []string{
	"ContentBasedDeduplication", "DeduplicationScope", "DelaySeconds", "FifoQueue", "FifoThroughputLimit",
	"KmsDataKeyReusePeriodSeconds", "KmsMasterKeyId", "MaximumMessageSize", "MessageRetentionPeriod",
	"ReceiveMessageWaitTimeSeconds", "RedriveAllowPolicy", "RedrivePolicy", "SqsManagedSseEnabled", "VisibilityTimeout",
}

func (p *provisioner) queue(ctx context.Context, r *Resource) error {
	props, err := p.props(r)
	if err != nil {
		return err
	}
	name := p.physicalName(r, props, "QueueName")
	fifo := isTrue(props["FifoQueue"])
	if fifo && !strings.HasSuffix(name, ".fifo") {
		name += ".fifo"
	}
	attrs := map[string]string{}
	for _, k := range queueAttributeNames {
		v, ok := props[k]
		if !ok {
			continue
		}
		switch x := v.(type) {
		case map[string]any:
			b, err := json.Marshal(x)
			if err != nil {
				return err
			}
			attrs[k] = string(b)
		default:
			attrs[k] = scalarString(x)
		}
	}
	var url string
	if out, err := p.c.SQS.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String(name)}); err == nil {
		url = aws.ToString(out.QueueUrl)
		set := map[string]string{}
		for k, v := range attrs {
			if k != "FifoQueue" { // immutable, and rejected by SetQueueAttributes
				set[k] = v
			}
		}
		if len(set) > 0 {
			if _, err := p.c.SQS.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: aws.String(url), Attributes: set}); err != nil {
				return fmt.Errorf("set attributes of queue %s: %w", name, err)
			}
		}
		p.log.Info("queue exists", "resource", r.LogicalID, "queue", name)
	} else if code := apiErrorCode(err); code != "AWS.SimpleQueueService.NonExistentQueue" && code != "QueueDoesNotExist" {
		return fmt.Errorf("look up queue %s: %w", name, err)
	} else {
		out, err := p.c.SQS.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(name), Attributes: attrs})
		if err != nil {
			return fmt.Errorf("create queue %s: %w", name, err)
		}
		url = aws.ToString(out.QueueUrl)
		p.log.Info("queue created", "resource", r.LogicalID, "queue", name, "redrive", attrs["RedrivePolicy"] != "")
	}
	ga, err := p.c.SQS.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{
		QueueUrl: aws.String(url), AttributeNames: []sqstypes.QueueAttributeName{sqstypes.QueueAttributeNameQueueArn},
	})
	if err != nil {
		return fmt.Errorf("queue %s ARN: %w", name, err)
	}
	arn := ga.Attributes["QueueArn"]
	p.record(r, &Physical{
		PhysicalID: url, ARN: arn, URL: url,
		Attributes: map[string]string{"Arn": arn, "QueueName": name, "QueueUrl": url},
	})
	return nil
}

// ---------------------------------------------------------------- SNS

func (p *provisioner) topic(ctx context.Context, r *Resource) error {
	props, err := p.props(r)
	if err != nil {
		return err
	}
	name := p.physicalName(r, props, "TopicName")
	attrs := map[string]string{}
	for _, k := range []string{"DisplayName", "FifoTopic", "ContentBasedDeduplication", "KmsMasterKeyId"} {
		if v, ok := props[k]; ok {
			attrs[k] = scalarString(v)
		}
	}
	if isTrue(props["FifoTopic"]) && !strings.HasSuffix(name, ".fifo") {
		name += ".fifo"
	}
	// CreateTopic returns the existing topic's ARN: idempotent.
	out, err := p.c.SNS.CreateTopic(ctx, &sns.CreateTopicInput{Name: aws.String(name), Attributes: attrs})
	if err != nil {
		return fmt.Errorf("create topic %s: %w", name, err)
	}
	arn := aws.ToString(out.TopicArn)
	p.log.Info("topic ready", "resource", r.LogicalID, "topic", name)
	for _, raw := range asList(props["Subscription"]) {
		s := asMap(raw)
		if _, err := p.subscribe(ctx, arn, scalarString(s["Protocol"]), scalarString(s["Endpoint"]), nil); err != nil {
			return err
		}
	}
	p.record(r, &Physical{PhysicalID: arn, ARN: arn, Attributes: map[string]string{"TopicArn": arn, "TopicName": name}})
	return nil
}

func (p *provisioner) subscription(ctx context.Context, r *Resource) error {
	props, err := p.props(r)
	if err != nil {
		return err
	}
	attrs := map[string]string{}
	for _, k := range []string{"RawMessageDelivery", "FilterPolicyScope", "DeliveryPolicy", "FilterPolicy", "RedrivePolicy"} {
		switch v := props[k].(type) {
		case nil:
		case map[string]any:
			b, err := json.Marshal(v)
			if err != nil {
				return err
			}
			attrs[k] = string(b)
		default:
			attrs[k] = scalarString(v)
		}
	}
	arn, err := p.subscribe(ctx, scalarString(props["TopicArn"]), scalarString(props["Protocol"]), scalarString(props["Endpoint"]), attrs)
	if err != nil {
		return err
	}
	p.record(r, &Physical{PhysicalID: arn, ARN: arn, Attributes: map[string]string{"Arn": arn}})
	return nil
}

// subscribe reuses an existing subscription of the same protocol and endpoint,
// so re-provisioning never delivers a message twice.
func (p *provisioner) subscribe(ctx context.Context, topic, protocol, endpoint string, attrs map[string]string) (string, error) {
	var next *string
	for {
		out, err := p.c.SNS.ListSubscriptionsByTopic(ctx, &sns.ListSubscriptionsByTopicInput{TopicArn: aws.String(topic), NextToken: next})
		if err != nil {
			return "", fmt.Errorf("list subscriptions of %s: %w", topic, err)
		}
		for _, s := range out.Subscriptions {
			if aws.ToString(s.Protocol) == protocol && aws.ToString(s.Endpoint) == endpoint {
				arn := aws.ToString(s.SubscriptionArn)
				for k, v := range attrs {
					if _, err := p.c.SNS.SetSubscriptionAttributes(ctx, &sns.SetSubscriptionAttributesInput{
						SubscriptionArn: aws.String(arn), AttributeName: aws.String(k), AttributeValue: aws.String(v),
					}); err != nil {
						return "", fmt.Errorf("subscription %s attribute %s: %w", arn, k, err)
					}
				}
				p.log.Info("subscription exists", "topic", topic, "protocol", protocol, "endpoint", endpoint)
				return arn, nil
			}
		}
		if out.NextToken == nil {
			break
		}
		next = out.NextToken
	}
	out, err := p.c.SNS.Subscribe(ctx, &sns.SubscribeInput{
		TopicArn: aws.String(topic), Protocol: aws.String(protocol), Endpoint: aws.String(endpoint),
		Attributes: attrs, ReturnSubscriptionArn: true,
	})
	if err != nil {
		return "", fmt.Errorf("subscribe %s to %s: %w", endpoint, topic, err)
	}
	p.log.Info("subscription created", "topic", topic, "protocol", protocol, "endpoint", endpoint)
	return aws.ToString(out.SubscriptionArn), nil
}

// ---------------------------------------------------------------- Secrets Manager

func (p *provisioner) secret(ctx context.Context, r *Resource) error {
	props, err := p.props(r)
	if err != nil {
		return err
	}
	name := p.physicalName(r, props, "Name")
	var arn string
	if out, err := p.c.SecretsManager.DescribeSecret(ctx, &secretsmanager.DescribeSecretInput{SecretId: aws.String(name)}); err == nil {
		// Kept as is: a new value would invalidate every link already mailed.
		arn = aws.ToString(out.ARN)
		p.log.Info("secret exists", "resource", r.LogicalID, "secret", name)
	} else if apiErrorCode(err) != "ResourceNotFoundException" {
		return fmt.Errorf("describe secret %s: %w", name, err)
	} else {
		value, err := secretValue(props)
		if err != nil {
			return fmt.Errorf("secret %s: %w", name, err)
		}
		out, err := p.c.SecretsManager.CreateSecret(ctx, &secretsmanager.CreateSecretInput{
			Name: aws.String(name), SecretString: aws.String(value),
			Description: aws.String(scalarString(props["Description"])),
		})
		if err != nil {
			return fmt.Errorf("create secret %s: %w", name, err)
		}
		arn = aws.ToString(out.ARN)
		p.log.Info("secret created", "resource", r.LogicalID, "secret", name)
	}
	p.record(r, &Physical{PhysicalID: arn, ARN: arn, Attributes: map[string]string{"Id": arn}})
	return nil
}

// secretValue is SecretString, or a value made like GenerateSecretString.
func secretValue(props map[string]any) (string, error) {
	if s, ok := props["SecretString"].(string); ok {
		return s, nil
	}
	g, ok := props["GenerateSecretString"].(map[string]any)
	if !ok {
		return "", errors.New("needs SecretString or GenerateSecretString")
	}
	length := 32
	if v, ok := g["PasswordLength"]; ok {
		n, err := strconv.Atoi(scalarString(v))
		if err != nil {
			return "", fmt.Errorf("PasswordLength: %w", err)
		}
		length = n
	}
	pw, err := GeneratePassword(length, GenerateOptions{
		ExcludeCharacters:  scalarString(g["ExcludeCharacters"]),
		ExcludeLowercase:   isTrue(g["ExcludeLowercase"]),
		ExcludeUppercase:   isTrue(g["ExcludeUppercase"]),
		ExcludeNumbers:     isTrue(g["ExcludeNumbers"]),
		ExcludePunctuation: isTrue(g["ExcludePunctuation"]),
		IncludeSpace:       isTrue(g["IncludeSpace"]),
	})
	if err != nil {
		return "", err
	}
	if tmpl, ok := g["SecretStringTemplate"].(string); ok {
		var m map[string]any
		if err := json.Unmarshal([]byte(tmpl), &m); err != nil {
			return "", fmt.Errorf("SecretStringTemplate: %w", err)
		}
		m[scalarString(g["GenerateStringKey"])] = pw
		b, err := json.Marshal(m)
		if err != nil {
			return "", err
		}
		return string(b), nil
	}
	return pw, nil
}

// GenerateOptions are GenerateSecretString's character class options.
type GenerateOptions struct {
	ExcludeCharacters                                                      string
	ExcludeLowercase, ExcludeUppercase, ExcludeNumbers, ExcludePunctuation bool
	IncludeSpace                                                           bool
}

// GeneratePassword makes a random password from crypto/rand, as Secrets
// Manager's GetRandomPassword would.
func GeneratePassword(length int, o GenerateOptions) (string, error) {
	if length <= 0 || length > 4096 {
		return "", fmt.Errorf("password length %d out of range", length)
	}
	var set string
	if !o.ExcludeLowercase {
		set += "abcdefghijklmnopqrstuvwxyz"
	}
	if !o.ExcludeUppercase {
		set += "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
	}
	if !o.ExcludeNumbers {
		set += "0123456789"
	}
	if !o.ExcludePunctuation {
		set += "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"
	}
	if o.IncludeSpace {
		set += " "
	}
	chars := []rune(strings.Map(func(c rune) rune {
		if strings.ContainsRune(o.ExcludeCharacters, c) {
			return -1
		}
		return c
	}, set))
	if len(chars) == 0 {
		return "", errors.New("no characters left to generate a password from")
	}
	out := make([]rune, length)
	for i := range out {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(chars))))
		if err != nil {
			return "", fmt.Errorf("random: %w", err)
		}
		out[i] = chars[n.Int64()]
	}
	return string(out), nil
}

// ---------------------------------------------------------------- SES

func (p *provisioner) configurationSet(ctx context.Context, r *Resource) error {
	props, err := p.props(r)
	if err != nil {
		return err
	}
	name := p.physicalName(r, props, "Name")
	_, err = p.c.SESv2.CreateConfigurationSet(ctx, &sesv2.CreateConfigurationSetInput{ConfigurationSetName: aws.String(name)})
	switch code := apiErrorCode(err); {
	case err == nil:
		p.log.Info("configuration set created", "resource", r.LogicalID, "name", name)
	case code == "AlreadyExistsException":
		p.log.Info("configuration set exists", "resource", r.LogicalID, "name", name)
	default:
		// aws-ses-v2-local has no configuration-set API (it answers 404
		// UnknownOperationException) and accepts any ConfigurationSetName on
		// send, so the name alone is enough for the functions.
		p.skip(r, name, fmt.Sprintf("the SES emulator does not support configuration sets (%v); sends naming it still work", shortErr(err)))
		return nil
	}
	p.record(r, &Physical{PhysicalID: name, Attributes: map[string]string{}})
	return nil
}

func (p *provisioner) eventDestination(ctx context.Context, r *Resource) error {
	props, err := p.props(r)
	if err != nil {
		return err
	}
	set := scalarString(props["ConfigurationSetName"])
	if ph := p.stack.Resources[p.logicalIDOfPhysical(set)]; ph != nil && ph.Skipped != "" {
		p.skip(r, set+"-event-destination", "its configuration set is not emulated, so SES events (delivery, bounce…) are not published to SNS locally")
		return nil
	}
	ed := asMap(props["EventDestination"])
	name := scalarString(ed["Name"])
	dest := &sestypes.EventDestinationDefinition{Enabled: isTrue(ed["Enabled"])}
	for _, t := range asList(ed["MatchingEventTypes"]) {
		dest.MatchingEventTypes = append(dest.MatchingEventTypes, sestypes.EventType(strings.ToUpper(scalarString(t))))
	}
	if sd, ok := ed["SnsDestination"].(map[string]any); ok {
		dest.SnsDestination = &sestypes.SnsDestination{TopicArn: aws.String(scalarString(sd["TopicARN"]))}
	}
	_, err = p.c.SESv2.CreateConfigurationSetEventDestination(ctx, &sesv2.CreateConfigurationSetEventDestinationInput{
		ConfigurationSetName: aws.String(set), EventDestinationName: aws.String(name), EventDestination: dest,
	})
	if err != nil && apiErrorCode(err) != "AlreadyExistsException" {
		p.skip(r, name, fmt.Sprintf("the SES emulator does not support event destinations (%v)", shortErr(err)))
		return nil
	}
	p.record(r, &Physical{PhysicalID: name, Attributes: map[string]string{}})
	return nil
}

func (p *provisioner) logicalIDOfPhysical(physical string) string {
	for id, ph := range p.stack.Resources {
		if ph.PhysicalID == physical {
			return id
		}
	}
	return ""
}

func shortErr(err error) string {
	if code := apiErrorCode(err); code != "" {
		return code
	}
	s := err.Error()
	if len(s) > 120 {
		s = s[:120] + "…"
	}
	return s
}

// ---------------------------------------------------------------- functions

var kebabBoundary = regexp.MustCompile(`([a-z0-9])([A-Z])`)

// FunctionFolder maps a function's logical ID to its folder under functions/:
// IngestArticleFunction → ingest-article.
func FunctionFolder(logicalID string) string {
	base := strings.TrimSuffix(logicalID, "Function")
	return strings.ToLower(kebabBoundary.ReplaceAllString(base, "$1-$2"))
}

// function resolves a SAM function: Globals merged, environment evaluated,
// event sources collected. Nothing is created in moto: serve runs it.
func (p *provisioner) function(r *Resource) error {
	merged := mergeGlobals(asMap(p.o.Template.Globals["Function"]), r.Properties)
	ev := func(k string) (string, error) {
		v, ok := merged[k]
		if !ok {
			return "", nil
		}
		s, err := p.ev.EvalString(v)
		if err != nil {
			return "", fmt.Errorf("%s: %w", k, err)
		}
		return s, nil
	}
	name, err := ev("FunctionName")
	if err != nil {
		return err
	}
	if name == "" {
		name = p.o.StackName + "-" + r.LogicalID
	}
	f := &Function{LogicalID: r.LogicalID, Folder: FunctionFolder(r.LogicalID), FunctionName: name, Timeout: 3, MemorySize: 128, Environment: map[string]string{}}
	for k, dst := range map[string]*int{"Timeout": &f.Timeout, "MemorySize": &f.MemorySize} {
		s, err := ev(k)
		if err != nil {
			return err
		}
		if s == "" {
			continue
		}
		if *dst, err = strconv.Atoi(s); err != nil {
			return fmt.Errorf("%s: %w", k, err)
		}
	}
	if lf, err := p.ev.EvalString(asMap(merged["LoggingConfig"])["LogFormat"]); err == nil {
		f.LogFormat = lf
	}
	vars := asMap(asMap(merged["Environment"])["Variables"])
	for k, v := range vars {
		s, err := p.ev.EvalString(v)
		if err != nil {
			return fmt.Errorf("environment %s: %w", k, err)
		}
		f.Environment[k] = s
	}
	events := asMap(merged["Events"])
	names := make([]string, 0, len(events))
	for n := range events {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, evName := range names {
		e := asMap(events[evName])
		typ := scalarString(e["Type"])
		switch typ {
		case "SQS":
			src, err := p.sqsEvent(evName, asMap(e["Properties"]))
			if err != nil {
				return fmt.Errorf("event %s: %w", evName, err)
			}
			f.SQSEvents = append(f.SQSEvents, src)
		case "HttpApi", "Api":
			props := asMap(e["Properties"])
			method, err := p.ev.EvalString(props["Method"])
			if err != nil {
				return fmt.Errorf("event %s: %w", evName, err)
			}
			path, err := p.ev.EvalString(props["Path"])
			if err != nil {
				return fmt.Errorf("event %s: %w", evName, err)
			}
			if method == "" {
				method = "ANY"
			}
			f.HTTPRoutes = append(f.HTTPRoutes, HTTPRoute{Name: evName, Method: strings.ToUpper(method), Path: path})
		default:
			p.log.Info("event source not emulated locally: invoke the function by hand", "function", r.LogicalID, "event", evName, "type", typ)
		}
	}
	p.stack.Functions = append(p.stack.Functions, f)
	arn := fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", p.o.Region, p.o.AccountID, name)
	p.record(r, &Physical{PhysicalID: name, ARN: arn, Skipped: "run by `gazette stack serve` under aws-lambda-rie", Attributes: map[string]string{"Arn": arn}})
	p.log.Info("function resolved", "function", r.LogicalID, "sqsEvents", len(f.SQSEvents), "httpRoutes", len(f.HTTPRoutes))
	return nil
}

func (p *provisioner) sqsEvent(name string, props map[string]any) (SQSEventSource, error) {
	arn, err := p.ev.EvalString(props["Queue"])
	if err != nil {
		return SQSEventSource{}, err
	}
	id, ok := p.byARN[arn]
	if !ok {
		return SQSEventSource{}, fmt.Errorf("queue %s is not a queue of this stack", arn)
	}
	src := SQSEventSource{Name: name, Queue: id, QueueURL: p.stack.Resources[id].URL, QueueARN: arn, BatchSize: 10, Enabled: true}
	if v, ok := props["BatchSize"]; ok {
		s, err := p.ev.EvalString(v)
		if err != nil {
			return src, err
		}
		if src.BatchSize, err = strconv.Atoi(s); err != nil {
			return src, fmt.Errorf("BatchSize: %w", err)
		}
	}
	if v, ok := props["Enabled"]; ok {
		s, err := p.ev.EvalString(v)
		if err != nil {
			return src, err
		}
		src.Enabled = s != "false"
	}
	types, err := p.ev.Eval(props["FunctionResponseTypes"])
	if err != nil {
		return src, err
	}
	for _, t := range asList(types) {
		if t == "ReportBatchItemFailures" {
			src.ReportBatchItemFailures = true
		}
	}
	return src, nil
}

// mergeGlobals applies SAM's Globals rules: the function's own properties win;
// maps (Environment.Variables) merge key by key.
func mergeGlobals(global, own map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range global {
		out[k] = v
	}
	for k, v := range own {
		gm, gok := out[k].(map[string]any)
		om, ook := v.(map[string]any)
		if gok && ook && !isIntrinsic(om) {
			out[k] = mergeGlobals(gm, om)
			continue
		}
		out[k] = v
	}
	return out
}

func isIntrinsic(m map[string]any) bool {
	if len(m) != 1 {
		return false
	}
	for k := range m {
		return k == "Ref" || strings.HasPrefix(k, "Fn::")
	}
	return false
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func isTrue(v any) bool {
	switch x := v.(type) {
	case bool:
		return x
	case string:
		return strings.EqualFold(x, "true")
	}
	return false
}

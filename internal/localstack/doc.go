// Package localstack runs Gazette's template.yaml on local emulators: moto
// server (S3, DynamoDB, SQS, SNS, Secrets Manager) and aws-ses-v2-local (SES
// v2), with every function's real bootstrap under aws-lambda-rie.
//
// Three parts, used by `gazette stack …` and infra/stack.sh:
//
//   - Template loading (LoadTemplate, Evaluator): YAML with CloudFormation
//     short tags turned into long forms; parameters, pseudo parameters,
//     Conditions, Ref, Fn::GetAtt, Fn::Sub, Fn::If, Fn::Join, Fn::Select,
//     Fn::Split, Fn::Equals, Fn::Not/And/Or resolved. moto's own
//     CloudFormation cannot be used: it does not apply the SAM transform.
//   - Provisioning (Provision): the resources template.yaml declares, created
//     in dependency order with physical names derived from the stack name and
//     logical IDs, idempotently; the result, with every function's resolved
//     environment and event sources, is written to out/stack/stack.json
//     (Stack, read back by Discover).
//   - Serving (Server): one aws-lambda-rie per function, invoked one call at a
//     time (RIE fails on concurrent invokes, as one Lambda execution
//     environment would); an SQS poller per event source mapping honouring
//     ReportBatchItemFailures; the HTTP API (payload format 2.0) on :3000; the
//     Lambda invoke API (`sam local start-lambda`'s protocol) and a status
//     endpoint (GET /_stack/status, used by Stack.WaitIdle) on :3001.
//
// # The one local deviation
//
// Lambda leaves a message whose processing failed invisible for the rest of
// the queue's VisibilityTimeout (360 s in template.yaml) before retrying it.
// The local poller sets the visibility of failed messages to
// ServeOptions.RetryDelay (1 s) instead, so that retries and the redrive to the
// DLQ (moto applies maxReceiveCount when a message is received) happen in
// seconds. Everything else — batch sizes, partial batch responses, the DLQ
// after maxReceiveCount receives — behaves as on AWS.
//
// # Not emulated
//
// IAM and resource policies (moto does not enforce them), the EventBridge
// Scheduler schedule (invoke PublishDigestFunction by hand), and SES
// configuration sets with their event destinations: aws-ses-v2-local has no
// API for them (it answers 404) and accepts any ConfigurationSetName on send,
// so SES events do not reach SNS locally; tests publish such events to the
// topic themselves.
package localstack

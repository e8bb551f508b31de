package dynamo

import (
	"context"
	"fmt"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/dynamodb/attributevalue"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/gazette-news/gazette/internal/gazette"
)

// ArticlesAPI is the part of the DynamoDB client Articles uses.
type ArticlesAPI interface {
	PutItem(ctx context.Context, in *dynamodb.PutItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.PutItemOutput, error)
	GetItem(ctx context.Context, in *dynamodb.GetItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.GetItemOutput, error)
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, optFns ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
	Query(ctx context.Context, in *dynamodb.QueryInput, optFns ...func(*dynamodb.Options)) (*dynamodb.QueryOutput, error)
}

// Articles is the articles table: one item per article, keyed by its
// content-derived ID, with a byStatus index (status, ingestedAt) from which
// publish-digest takes the pending ones in upload order.
type Articles struct {
	api   ArticlesAPI
	table string
}

// NewArticles returns the articles table named table.
func NewArticles(api ArticlesAPI, table string) *Articles {
	return &Articles{api: api, table: table}
}

// jsonTags makes attributevalue use the domain types' json tags, so that the
// item attributes have the same names as the JSON the CLI prints.
func jsonTags(o *attributevalue.EncoderOptions) { o.TagKey = "json" }

func jsonTagsDecode(o *attributevalue.DecoderOptions) { o.TagKey = "json" }

// Create stores a new article. An article with the same ID (the same
// content) is a gazette.KindConflict error and is left as it was.
func (s *Articles) Create(ctx context.Context, a gazette.Article) error {
	item, err := attributevalue.MarshalMapWithOptions(a, jsonTags)
	if err != nil {
		return fmt.Errorf("encode article %s: %w", a.ID, err)
	}
	_, err = s.api.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:           aws.String(s.table),
		Item:                item,
		ConditionExpression: aws.String("attribute_not_exists(id)"),
	})
	return classify("create article "+a.ID, err)
}

// Get reads one article; a missing one is gazette.KindNotFound.
func (s *Articles) Get(ctx context.Context, id string) (gazette.Article, error) {
	out, err := s.api.GetItem(ctx, &dynamodb.GetItemInput{
		TableName: aws.String(s.table), Key: idKey(id), ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return gazette.Article{}, classify("get article "+id, err)
	}
	if out.Item == nil {
		return gazette.Article{}, gazette.Errorf(gazette.KindNotFound, "no_article", "article %s not found", id)
	}
	var a gazette.Article
	if err := attributevalue.UnmarshalMapWithOptions(out.Item, &a, jsonTagsDecode); err != nil {
		return gazette.Article{}, fmt.Errorf("decode article %s: %w", id, err)
	}
	return a, nil
}

// PendingIDs lists the IDs of pending articles, oldest upload first.
func (s *Articles) PendingIDs(ctx context.Context) ([]string, error) {
	var ids []string
	var start map[string]types.AttributeValue
	for {
		out, err := s.api.Query(ctx, &dynamodb.QueryInput{
			TableName:                 aws.String(s.table),
			IndexName:                 aws.String("byStatus"),
			KeyConditionExpression:    aws.String("#s = :pending"),
			ExpressionAttributeNames:  map[string]string{"#s": "status"},
			ExpressionAttributeValues: map[string]types.AttributeValue{":pending": &types.AttributeValueMemberS{Value: string(gazette.ArticlePending)}},
			ExclusiveStartKey:         start,
		})
		if err != nil {
			return nil, classify("list pending articles", err)
		}
		for _, item := range out.Items {
			if v, ok := item["id"].(*types.AttributeValueMemberS); ok {
				ids = append(ids, v.Value)
			}
		}
		if out.LastEvaluatedKey == nil {
			return ids, nil
		}
		start = out.LastEvaluatedKey
	}
}

// Claim moves a pending article into issue and returns it. Claiming it again
// for the same issue (a resumed publish) returns it too; an article that
// another issue took is a gazette.KindConflict error.
func (s *Articles) Claim(ctx context.Context, id string, issue int) (gazette.Article, error) {
	out, err := s.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                aws.String(s.table),
		Key:                      idKey(id),
		UpdateExpression:         aws.String("SET #s = :published, issue = :issue"),
		ConditionExpression:      aws.String("#s = :pending OR (#s = :published AND issue = :issue)"),
		ExpressionAttributeNames: map[string]string{"#s": "status"},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":pending":   &types.AttributeValueMemberS{Value: string(gazette.ArticlePending)},
			":published": &types.AttributeValueMemberS{Value: string(gazette.ArticlePublished)},
			":issue":     &types.AttributeValueMemberN{Value: strconv.Itoa(issue)},
		},
		ReturnValues: types.ReturnValueAllNew,
	})
	if err != nil {
		return gazette.Article{}, classify(fmt.Sprintf("claim article %s for issue %d", id, issue), err)
	}
	var a gazette.Article
	if err := attributevalue.UnmarshalMapWithOptions(out.Attributes, &a, jsonTagsDecode); err != nil {
		return gazette.Article{}, fmt.Errorf("decode article %s: %w", id, err)
	}
	return a, nil
}

func idKey(id string) map[string]types.AttributeValue {
	return map[string]types.AttributeValue{"id": &types.AttributeValueMemberS{Value: id}}
}

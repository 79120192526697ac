package main

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// emptyObjectSchema is the input schema of tools that take no arguments.
var emptyObjectSchema = json.RawMessage(`{"type":"object","properties":{}}`)

// jsonSchema202012 is the input schema of json_schema_2020_12_tool. It is
// passed through verbatim so $schema, $defs and additionalProperties reach
// tools/list unchanged (SEP-1613).
var jsonSchema202012 = json.RawMessage(`{
  "$schema": "https://json-schema.org/draft/2020-12/schema",
  "type": "object",
  "$defs": {
    "address": {
      "type": "object",
      "properties": {
        "street": {"type": "string"},
        "city": {"type": "string"}
      }
    }
  },
  "properties": {
    "name": {"type": "string"},
    "address": {"$ref": "#/$defs/address"}
  },
  "additionalProperties": false
}`)

// elicitationSchema is the requestedSchema of test_elicitation.
var elicitationSchema = json.RawMessage(`{
  "type": "object",
  "properties": {
    "username": {"type": "string", "description": "User's response"},
    "email": {"type": "string", "description": "User's email address"}
  },
  "required": ["username", "email"]
}`)

// sep1034Schema carries a default for every primitive type (SEP-1034).
var sep1034Schema = json.RawMessage(`{
  "type": "object",
  "properties": {
    "name": {"type": "string", "description": "User name", "default": "John Doe"},
    "age": {"type": "integer", "description": "User age", "default": 30},
    "score": {"type": "number", "description": "User score", "default": 95.5},
    "status": {"type": "string", "description": "User status", "enum": ["active", "inactive", "pending"], "default": "active"},
    "verified": {"type": "boolean", "description": "Verification status", "default": true}
  },
  "required": []
}`)

// sep1330Schema carries all five enum variants of SEP-1330.
var sep1330Schema = json.RawMessage(`{
  "type": "object",
  "properties": {
    "untitledSingle": {
      "type": "string",
      "description": "Untitled single-select enum",
      "enum": ["option1", "option2", "option3"]
    },
    "titledSingle": {
      "type": "string",
      "description": "Titled single-select enum",
      "oneOf": [
        {"const": "value1", "title": "First Option"},
        {"const": "value2", "title": "Second Option"},
        {"const": "value3", "title": "Third Option"}
      ]
    },
    "legacyEnum": {
      "type": "string",
      "description": "Legacy titled enum (deprecated enumNames)",
      "enum": ["opt1", "opt2", "opt3"],
      "enumNames": ["Option One", "Option Two", "Option Three"]
    },
    "untitledMulti": {
      "type": "array",
      "description": "Untitled multi-select enum",
      "items": {"type": "string", "enum": ["option1", "option2", "option3"]}
    },
    "titledMulti": {
      "type": "array",
      "description": "Titled multi-select enum",
      "items": {
        "anyOf": [
          {"const": "value1", "title": "First Choice"},
          {"const": "value2", "title": "Second Choice"},
          {"const": "value3", "title": "Third Choice"}
        ]
      }
    }
  },
  "required": []
}`)

// toolNames lists every registered tool, in registration order.
var toolNames = []string{
	"test_simple_text",
	"test_image_content",
	"test_audio_content",
	"test_embedded_resource",
	"test_multiple_content_types",
	"test_tool_with_logging",
	"test_tool_with_progress",
	"test_error_handling",
	"test_sampling",
	"test_elicitation",
	"test_elicitation_sep1034_defaults",
	"test_elicitation_sep1330_enums",
	"json_schema_2020_12_tool",
	"test_reconnection",
}

func addTools(srv *mcp.Server) {
	add := func(name, desc string, schema json.RawMessage, h mcp.ToolHandler) {
		srv.AddTool(&mcp.Tool{Name: name, Description: desc, InputSchema: schema}, h)
	}

	add("test_simple_text", "Returns a simple text response", emptyObjectSchema,
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return textResult("This is a simple text response for testing."), nil
		})

	add("test_image_content", "Returns a 1x1 red PNG image", emptyObjectSchema,
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{
				&mcp.ImageContent{Data: pngPixel, MIMEType: "image/png"},
			}}, nil
		})

	add("test_audio_content", "Returns a short silent WAV clip", emptyObjectSchema,
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{
				&mcp.AudioContent{Data: wavClip, MIMEType: "audio/wav"},
			}}, nil
		})

	add("test_embedded_resource", "Returns an embedded text resource", emptyObjectSchema,
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{
				&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{
					URI:      "test://embedded-resource",
					MIMEType: "text/plain",
					Text:     "This is an embedded resource content.",
				}},
			}}, nil
		})

	add("test_multiple_content_types", "Returns text, image and embedded resource content", emptyObjectSchema,
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{
				&mcp.TextContent{Text: "Multiple content types test:"},
				&mcp.ImageContent{Data: pngPixel, MIMEType: "image/png"},
				&mcp.EmbeddedResource{Resource: &mcp.ResourceContents{
					URI:      "test://mixed-content-resource",
					MIMEType: "application/json",
					Text:     `{"test":"data","value":123}`,
				}},
			}}, nil
		})

	add("test_tool_with_logging", "Sends three info log notifications while running", emptyObjectSchema,
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			msgs := []string{"Tool execution started", "Tool processing data", "Tool execution completed"}
			for i, msg := range msgs {
				if i > 0 {
					if err := sleep(ctx, 50*time.Millisecond); err != nil {
						return nil, err
					}
				}
				// Log honours the level set with logging/setLevel; the
				// notification travels on the tools/call response stream.
				if err := req.Session.Log(ctx, &mcp.LoggingMessageParams{
					Level: "info", Logger: implementationName, Data: msg,
				}); err != nil {
					return nil, err
				}
			}
			return textResult("Tool with logging executed successfully"), nil
		})

	add("test_tool_with_progress", "Reports progress 0/100, 50/100, 100/100", emptyObjectSchema,
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			token := req.Params.GetProgressToken()
			for i, p := range []float64{0, 50, 100} {
				if i > 0 {
					if err := sleep(ctx, 50*time.Millisecond); err != nil {
						return nil, err
					}
				}
				if token == nil {
					continue
				}
				if err := req.Session.NotifyProgress(ctx, &mcp.ProgressNotificationParams{
					ProgressToken: token,
					Progress:      p,
					Total:         100,
					Message:       fmt.Sprintf("Completed step %d of 3", i+1),
				}); err != nil {
					return nil, err
				}
			}
			return textResult("Tool with progress executed successfully"), nil
		})

	add("test_error_handling", "Always returns a tool error", emptyObjectSchema,
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return errorResult("This tool intentionally returns an error for testing"), nil
		})

	add("test_sampling", "Requests LLM sampling from the client", json.RawMessage(`{
  "type": "object",
  "properties": {"prompt": {"type": "string", "description": "The prompt to send to the LLM"}},
  "required": ["prompt"]
}`),
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			var args struct {
				Prompt *string `json:"prompt"`
			}
			if err := unmarshalArgs(req, &args); err != nil || args.Prompt == nil {
				return errorResult("test_sampling: required string argument \"prompt\" is missing"), nil
			}
			answer, ask := inputOf(req, "sampling", &mcp.CreateMessageParams{
				Messages: []*mcp.SamplingMessage{{
					Role:    "user",
					Content: &mcp.TextContent{Text: *args.Prompt},
				}},
				MaxTokens: 100,
			})
			if ask != nil {
				return ask, nil
			}
			res, ok := answer.(*mcp.CreateMessageWithToolsResult)
			if !ok {
				return errorResult(fmt.Sprintf("Sampling failed: the answer is a %T, not a sampling result", answer)), nil
			}
			text := ""
			for _, block := range res.Content {
				switch c := block.(type) {
				case *mcp.TextContent:
					text += c.Text
				default:
					b, _ := json.Marshal(c)
					text += string(b)
				}
			}
			return textResult("LLM response: " + text), nil
		})

	add("test_elicitation", "Requests user input (elicitation) from the client", json.RawMessage(`{
  "type": "object",
  "properties": {"message": {"type": "string", "description": "The message to show the user"}},
  "required": ["message"]
}`),
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			var args struct {
				Message *string `json:"message"`
			}
			if err := unmarshalArgs(req, &args); err != nil || args.Message == nil {
				return errorResult("test_elicitation: required string argument \"message\" is missing"), nil
			}
			res, ask := elicit(req, &mcp.ElicitParams{
				Message:         *args.Message,
				RequestedSchema: elicitationSchema,
			})
			if ask != nil {
				return ask, nil
			}
			return textResult(fmt.Sprintf("User response: action=%s, content=%s", res.Action, mustJSON(res.Content))), nil
		})

	add("test_elicitation_sep1034_defaults", "Requests elicitation with defaults for every primitive type (SEP-1034)", emptyObjectSchema,
		elicitTool("Please review and update the form fields with defaults", sep1034Schema))

	add("test_elicitation_sep1330_enums", "Requests elicitation with all enum schema variants (SEP-1330)", emptyObjectSchema,
		elicitTool("Please select options from the enum fields", sep1330Schema))

	add("json_schema_2020_12_tool", "Tool with JSON Schema 2020-12 features", jsonSchema202012,
		func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			args := "{}"
			if len(req.Params.Arguments) > 0 {
				args = string(req.Params.Arguments)
			}
			return textResult("JSON Schema 2020-12 tool called with: " + args), nil
		})

	add("test_reconnection", "Closes the SSE response stream mid-call to test client reconnection (SEP-1699)", emptyObjectSchema,
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			if canCloseStream(req) {
				// Close the POST's SSE stream with a retry hint; the result is
				// then stored in the event store and replayed to the client
				// when it reconnects with GET + Last-Event-ID.
				req.Extra.CloseSSEStream(mcp.CloseSSEStreamArgs{RetryAfter: 500 * time.Millisecond})
				if err := sleep(ctx, 100*time.Millisecond); err != nil {
					return nil, err
				}
			}
			return textResult("Reconnection test completed successfully"), nil
		})
}

// canCloseStream reports whether closing the request's SSE stream lets the
// client resume it: it needs a stateful HTTP session (for the GET) and a
// request protocol version (header) of at least 2025-11-25, the first one for
// which the SDK emits the priming event that carries the resumable event ID.
func canCloseStream(req *mcp.CallToolRequest) bool {
	if req.Extra == nil || req.Extra.CloseSSEStream == nil || req.Session.ID() == "" {
		return false
	}
	v := req.Extra.Header.Get("Mcp-Protocol-Version")
	return v >= "2025-11-25" && v < "2026-07-28"
}

func elicitTool(message string, schema json.RawMessage) mcp.ToolHandler {
	return func(_ context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
		res, ask := elicit(req, &mcp.ElicitParams{Message: message, RequestedSchema: schema})
		if ask != nil {
			return ask, nil
		}
		return textResult(fmt.Sprintf("Elicitation completed: action=%s, content=%s", res.Action, mustJSON(res.Content))), nil
	}
}

// inputOf asks the client for one input the multi-round-trip way, which
// every revision can serve: the first call answers with the request (the
// SDK puts it to a client of a 2025 revision itself and calls the tool
// again; a client of the stateless revision answers it in its retry), and
// the retry carries the client's answer. ask is the result to return
// while the answer is not there.
func inputOf(req *mcp.CallToolRequest, key string, params mcp.InputRequest) (answer mcp.InputResponse, ask *mcp.CallToolResult) {
	if a, ok := req.Params.InputResponses[key]; ok {
		return a, nil
	}
	return nil, &mcp.CallToolResult{InputRequests: mcp.InputRequestMap{key: params}}
}

// elicit asks the client for input (see inputOf); a wrong kind of answer
// is a tool error.
func elicit(req *mcp.CallToolRequest, params *mcp.ElicitParams) (*mcp.ElicitResult, *mcp.CallToolResult) {
	answer, ask := inputOf(req, "elicitation", params)
	if ask != nil {
		return nil, ask
	}
	res, ok := answer.(*mcp.ElicitResult)
	if !ok {
		return nil, errorResult(fmt.Sprintf("Elicitation failed: the answer is a %T, not an elicitation result", answer))
	}
	return res, nil
}

func unmarshalArgs(req *mcp.CallToolRequest, v any) error {
	if len(req.Params.Arguments) == 0 {
		return nil
	}
	return json.Unmarshal(req.Params.Arguments, v)
}

func textResult(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}

func errorResult(text string) *mcp.CallToolResult {
	return &mcp.CallToolResult{IsError: true, Content: []mcp.Content{&mcp.TextContent{Text: text}}}
}

func mustJSON(v any) string {
	if v == nil {
		return "{}"
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("%v", v)
	}
	return string(b)
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"image"
	"image/color"
	"image/png"
	"slices"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// newServer builds the MCP server with every conformance fixture registered.
func newServer() *mcp.Server {
	watched := &watchedResource{}
	var srv *mcp.Server
	srv = mcp.NewServer(&mcp.Implementation{Name: implementationName, Version: version}, &mcp.ServerOptions{
		// Capabilities nil keeps the SDK default {"logging":{}}; tools,
		// prompts, resources (with subscribe) and completions are inferred
		// from what is registered below.
		CompletionHandler: complete,
		SubscribeHandler: func(_ context.Context, req *mcp.SubscribeRequest) error {
			return watched.subscribe(srv, req.Params.URI)
		},
		UnsubscribeHandler: func(_ context.Context, req *mcp.UnsubscribeRequest) error {
			return watched.unsubscribe(req.Params.URI)
		},
	})
	addTools(srv)
	addResources(srv, watched)
	addPrompts(srv)
	return srv
}

// Completion candidates. The completion-complete scenario asks for
// ref/prompt test_prompt_with_arguments, argument arg1, value "test".
var (
	promptArgCandidates = map[string][]string{
		"arg1": {"test-value-1", "test-value-2", "testing", "paris", "park", "party"},
		"arg2": {"test-value-a", "test-value-b", "world", "wonder"},
	}
	promptEmbeddedCandidates = []string{"test://static-text", "test://static-binary", "test://watched-resource", "test://example-resource"}
	templateIDCandidates     = []string{"1", "2", "3", "123", "456"}
)

// complete answers completion/complete for the prompt arguments of
// test_prompt_with_arguments and test_prompt_with_embedded_resource, and for
// the {id} variable of the test://template/{id}/data resource template.
// Values is always a non-nil array (possibly empty).
func complete(_ context.Context, req *mcp.CompleteRequest) (*mcp.CompleteResult, error) {
	var candidates []string
	if ref := req.Params.Ref; ref != nil {
		arg := req.Params.Argument.Name
		switch {
		case ref.Type == "ref/prompt" && ref.Name == "test_prompt_with_arguments":
			candidates = promptArgCandidates[arg]
		case ref.Type == "ref/prompt" && ref.Name == "test_prompt_with_embedded_resource" && arg == "resourceUri":
			candidates = promptEmbeddedCandidates
		case ref.Type == "ref/resource" && ref.URI == templateURI && arg == "id":
			candidates = templateIDCandidates
		}
	}
	values := []string{}
	for _, c := range candidates {
		if strings.HasPrefix(c, req.Params.Argument.Value) {
			values = append(values, c)
		}
	}
	slices.Sort(values)
	return &mcp.CompleteResult{Completion: mcp.CompletionResultDetails{
		Values:  values,
		Total:   len(values),
		HasMore: false,
	}}, nil
}

// Media fixtures, generated deterministically at startup.
var (
	pngPixel = redPixelPNG()
	wavClip  = silentWAV()
)

// redPixelPNG encodes a 1x1 opaque red PNG.
func redPixelPNG() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 1, 1))
	img.Set(0, 0, color.RGBA{R: 0xff, A: 0xff})
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// silentWAV returns a valid RIFF/WAVE file: 8 kHz, mono, 8-bit PCM, 80
// samples (10 ms) of silence.
func silentWAV() []byte {
	const (
		sampleRate    = 8000
		channels      = 1
		bitsPerSample = 8
		numSamples    = 80
	)
	data := bytes.Repeat([]byte{0x80}, numSamples) // 0x80 is silence for 8-bit PCM
	var buf bytes.Buffer
	le := func(v any) { _ = binary.Write(&buf, binary.LittleEndian, v) }
	buf.WriteString("RIFF")
	le(uint32(36 + len(data)))
	buf.WriteString("WAVE")
	buf.WriteString("fmt ")
	le(uint32(16))                                        // fmt chunk size
	le(uint16(1))                                         // PCM
	le(uint16(channels))                                  // channels
	le(uint32(sampleRate))                                // sample rate
	le(uint32(sampleRate * channels * bitsPerSample / 8)) // byte rate
	le(uint16(channels * bitsPerSample / 8))              // block align
	le(uint16(bitsPerSample))                             // bits per sample
	buf.WriteString("data")
	le(uint32(len(data)))
	buf.Write(data)
	return buf.Bytes()
}

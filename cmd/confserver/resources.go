package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

const (
	staticTextURI  = "test://static-text"
	staticBlobURI  = "test://static-binary"
	watchedURI     = "test://watched-resource"
	templateURI    = "test://template/{id}/data"
	templatePrefix = "test://template/"
	templateSuffix = "/data"

	staticText = "This is the content of the static text resource."

	// watchedUpdateDelay is how long after a resources/subscribe the server
	// changes test://watched-resource and emits notifications/resources/updated
	// to every session still subscribed to it.
	watchedUpdateDelay = 100 * time.Millisecond
)

func addResources(srv *mcp.Server, watched *watchedResource) {
	srv.AddResource(&mcp.Resource{
		URI:         staticTextURI,
		Name:        "static-text",
		Title:       "Static text resource",
		Description: "A static text resource for testing",
		MIMEType:    "text/plain",
	}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{
			URI: staticTextURI, MIMEType: "text/plain", Text: staticText,
		}}}, nil
	})

	srv.AddResource(&mcp.Resource{
		URI:         staticBlobURI,
		Name:        "static-binary",
		Title:       "Static binary resource",
		Description: "A static binary resource (1x1 PNG) for testing",
		MIMEType:    "image/png",
	}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{
			URI: staticBlobURI, MIMEType: "image/png", Blob: pngPixel,
		}}}, nil
	})

	srv.AddResource(&mcp.Resource{
		URI:         watchedURI,
		Name:        "watched-resource",
		Title:       "Watched resource",
		Description: "A resource that supports subscriptions; it changes shortly after each subscribe",
		MIMEType:    "text/plain",
	}, func(context.Context, *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{
			URI: watchedURI, MIMEType: "text/plain", Text: watched.text(),
		}}}, nil
	})

	srv.AddResourceTemplate(&mcp.ResourceTemplate{
		URITemplate: templateURI,
		Name:        "template-data",
		Title:       "Template data resource",
		Description: "A resource template with an {id} parameter",
		MIMEType:    "application/json",
	}, func(_ context.Context, req *mcp.ReadResourceRequest) (*mcp.ReadResourceResult, error) {
		uri := req.Params.URI
		id, ok := strings.CutPrefix(uri, templatePrefix)
		if ok {
			id, ok = strings.CutSuffix(id, templateSuffix)
		}
		if !ok || id == "" || strings.Contains(id, "/") {
			return nil, mcp.ResourceNotFoundError(uri)
		}
		body, err := json.Marshal(struct {
			ID           string `json:"id"`
			TemplateTest bool   `json:"templateTest"`
			Data         string `json:"data"`
		}{id, true, "Data for ID: " + id})
		if err != nil {
			return nil, err
		}
		return &mcp.ReadResourceResult{Contents: []*mcp.ResourceContents{{
			URI: uri, MIMEType: "application/json", Text: string(body),
		}}}, nil
	})
}

// watchedResource is the state of test://watched-resource.
type watchedResource struct {
	mu      sync.Mutex
	version int
}

func (w *watchedResource) text() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return fmt.Sprintf("Watched resource content (version %d)", w.version)
}

// subscribable reports whether uri names one of the static resources.
func subscribable(uri string) bool {
	return uri == staticTextURI || uri == staticBlobURI || uri == watchedURI
}

// subscribe accepts subscriptions to the static resources; only
// test://watched-resource ever changes. The SDK
// records the subscription once this returns; shortly after, the resource is
// changed and every subscribed session receives
// notifications/resources/updated (outside any request, so over HTTP it goes
// to the session's standalone GET stream). A session that unsubscribed in the
// meantime receives nothing.
func (w *watchedResource) subscribe(srv *mcp.Server, uri string) error {
	if !subscribable(uri) {
		return mcp.ResourceNotFoundError(uri)
	}
	if uri != watchedURI {
		return nil
	}
	time.AfterFunc(watchedUpdateDelay, func() {
		w.mu.Lock()
		w.version++
		w.mu.Unlock()
		_ = srv.ResourceUpdated(context.Background(), &mcp.ResourceUpdatedNotificationParams{URI: watchedURI})
	})
	return nil
}

func (w *watchedResource) unsubscribe(uri string) error {
	if !subscribable(uri) {
		return mcp.ResourceNotFoundError(uri)
	}
	return nil
}

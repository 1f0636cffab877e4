package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/stikadoo/stikadoo-edge/edge/proto"
)

// maxToolPages bounds tools/list pagination against a device that never
// stops handing out cursors.
const maxToolPages = 16

// mcpClient is the session's MCP client: the device is the server. Ids are
// numbers (the firmware drops string ids); replies arrive asynchronously on
// the reader goroutine and are matched by id.
type mcpClient struct {
	ss *session

	mu      sync.Mutex
	next    int64
	pending map[int64]chan proto.RPCResponse
	tools   []proto.Tool
}

func newMCPClient(ss *session) *mcpClient {
	return &mcpClient{ss: ss, pending: make(map[int64]chan proto.RPCResponse)}
}

// call sends a request and waits for its reply, the timeout, or the end
// of ctx or the session.
func (m *mcpClient) call(ctx context.Context, method string, params any, timeout time.Duration) (proto.RPCResponse, error) {
	ch := make(chan proto.RPCResponse, 1)
	m.mu.Lock()
	m.next++
	id := m.next
	m.pending[id] = ch
	m.mu.Unlock()
	defer func() {
		m.mu.Lock()
		delete(m.pending, id)
		m.mu.Unlock()
	}()
	payload, err := json.Marshal(proto.RPCRequest{JSONRPC: "2.0", ID: id, Method: method, Params: params})
	if err != nil {
		return proto.RPCResponse{}, fmt.Errorf("mcp %s: encode: %w", method, err)
	}
	m.ss.send(proto.MCPEnvelope{Type: proto.TypeMCP, SessionID: m.ss.id, Payload: payload})
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case r := <-ch:
		if r.Error != nil {
			return r, fmt.Errorf("mcp %s: %w: %w", method, ErrDeviceRefused, r.Error)
		}
		return r, nil
	case <-timer.C:
		return proto.RPCResponse{}, fmt.Errorf("mcp %s after %s: %w", method, timeout, ErrMCPTimeout)
	case <-ctx.Done():
		return proto.RPCResponse{}, fmt.Errorf("mcp %s: %w", method, context.Cause(ctx))
	case <-m.ss.ctx.Done():
		return proto.RPCResponse{}, fmt.Errorf("mcp %s: %w", method, ErrSessionClosed)
	}
}

// reserveID takes a request id, for a request relayed from the cloud.
func (m *mcpClient) reserveID() int64 {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.next++
	return m.next
}

// deliver hands a reply to its waiting caller; unmatched replies (late, or
// requests from the device) are dropped.
func (m *mcpClient) deliver(r proto.RPCResponse) {
	id, ok := r.NumericID()
	if !ok {
		return
	}
	m.mu.Lock()
	ch := m.pending[id]
	m.mu.Unlock()
	if ch != nil {
		select {
		case ch <- r:
		default:
		}
	}
}

// callTool calls a device tool and checks its result.
func (m *mcpClient) callTool(ctx context.Context, name string, args any, timeout time.Duration) error {
	r, err := m.call(ctx, proto.MethodToolsCall, map[string]any{"name": name, "arguments": args}, timeout)
	if err != nil {
		return err
	}
	var res proto.ToolCallResult
	if len(r.Result) > 0 {
		if err := json.Unmarshal(r.Result, &res); err != nil {
			return fmt.Errorf("tool %s: result: %w", name, ErrDeviceRefused)
		}
	}
	if res.IsError {
		msg := ""
		for _, c := range res.Content {
			msg += c.Text
		}
		return fmt.Errorf("tool %s: %w: %s", name, ErrDeviceRefused, msg)
	}
	for _, c := range res.Content {
		if strings.EqualFold(strings.TrimSpace(c.Text), "false") {
			return fmt.Errorf("tool %s answered false: %w", name, ErrDeviceRefused)
		}
	}
	return nil
}

// discover initializes MCP and reads the device's tool list, page by page.
// Devices that do not speak MCP just time out; nothing depends on it.
func (m *mcpClient) discover() {
	ss := m.ss
	defer ss.wg.Done()
	timeout := ss.srv.cfg.MCPTimeout
	_, err := m.call(ss.ctx, proto.MethodInitialize, map[string]any{
		"protocolVersion": "2024-11-05",
		"capabilities":    map[string]any{},
		"clientInfo":      map[string]any{"name": "stikadoo-edge", "version": "1"},
	}, timeout)
	if err != nil {
		ss.log.Debug("mcp initialize", "err", err)
		return
	}
	var tools []proto.Tool
	cursor := ""
	for page := 0; page < maxToolPages; page++ {
		r, err := m.call(ss.ctx, proto.MethodToolsList, map[string]any{"cursor": cursor, "withUserTools": true}, timeout)
		if err != nil {
			ss.log.Debug("mcp tools/list", "err", err)
			break
		}
		var res proto.ToolsListResult
		if err := json.Unmarshal(r.Result, &res); err != nil {
			ss.log.Debug("mcp tools/list: result", "err", err)
			break
		}
		tools = append(tools, res.Tools...)
		if res.NextCursor == "" || res.NextCursor == cursor {
			break
		}
		cursor = res.NextCursor
	}
	names := make([]string, 0, len(tools))
	for _, t := range tools {
		names = append(names, t.Name)
	}
	m.mu.Lock()
	m.tools = tools
	m.mu.Unlock()
	ss.mu.Lock()
	ss.rec.Tools = names
	ss.mu.Unlock()
	ss.log.Info("device tools", "count", len(names))
	ss.persist()
}

// Tools returns the device's tools as last listed.
func (m *mcpClient) Tools() []proto.Tool {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]proto.Tool(nil), m.tools...)
}

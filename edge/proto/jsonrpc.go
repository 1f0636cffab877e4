package proto

import (
	"encoding/json"
	"fmt"
)

// RPCRequest is a JSON-RPC 2.0 request sent to the device. The id is a
// number: the firmware silently drops requests with string ids.
type RPCRequest struct {
	JSONRPC string `json:"jsonrpc"`
	ID      int64  `json:"id"`
	Method  string `json:"method"`
	Params  any    `json:"params,omitempty"`
}

// RPCError is a JSON-RPC error object; the firmware often omits the code.
type RPCError struct {
	Code    int    `json:"code,omitempty"`
	Message string `json:"message"`
}

func (e *RPCError) Error() string {
	if e.Code != 0 {
		return fmt.Sprintf("device error %d: %s", e.Code, e.Message)
	}
	return "device error: " + e.Message
}

// RPCResponse is a JSON-RPC 2.0 reply from the device.
type RPCResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Method  string          `json:"method,omitempty"` // set on notifications and requests from the device
	Result  json.RawMessage `json:"result,omitempty"`
	Error   *RPCError       `json:"error,omitempty"`
}

// NumericID returns the reply's id if it is a JSON integer.
func (r *RPCResponse) NumericID() (int64, bool) {
	if len(r.ID) == 0 || string(r.ID) == "null" {
		return 0, false
	}
	var id int64
	if err := json.Unmarshal(r.ID, &id); err != nil {
		return 0, false
	}
	return id, true
}

// DecodeRPCResponse parses an MCP payload from the device.
func DecodeRPCResponse(payload []byte) (RPCResponse, error) {
	var r RPCResponse
	if err := checkDepth(payload, MaxJSONDepth); err != nil {
		return r, err
	}
	if err := json.Unmarshal(payload, &r); err != nil {
		return r, fmt.Errorf("%w: %v", ErrJSON, err)
	}
	return r, nil
}

// Tool is one tool from the device's tools/list.
type Tool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"inputSchema,omitempty"`
}

// ToolsListResult is the result of tools/list.
type ToolsListResult struct {
	Tools      []Tool `json:"tools"`
	NextCursor string `json:"nextCursor,omitempty"`
}

// ToolContent is one item of a tools/call result.
type ToolContent struct {
	Type string `json:"type"`
	Text string `json:"text,omitempty"`
}

// ToolCallResult is the result of tools/call.
type ToolCallResult struct {
	Content []ToolContent `json:"content"`
	IsError bool          `json:"isError"`
}

// MCP method and tool names used by the gateway.
const (
	MethodInitialize = "initialize"
	MethodToolsList  = "tools/list"
	MethodToolsCall  = "tools/call"

	ToolPreviewImage = "self.screen.preview_image"
)

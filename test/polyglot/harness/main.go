// Decodes every golden frame with the generated Go types: the frame's `type`
// picks the struct (dispatch.go, written by the test from the documents;
// any other type is an application event), encoding/json decodes it, and
// the value is encoded again so the test can compare it with the frame.
// Usage: go run . <vectors.json>...; prints one JSON line per frame.
package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
)

type golden struct {
	Name      string          `json:"name"`
	Direction string          `json:"direction"`
	Frame     json.RawMessage `json:"frame"`
}

type result struct {
	Name      string          `json:"name"`
	Direction string          `json:"direction"`
	Variant   string          `json:"variant,omitempty"`
	JSON      json.RawMessage `json:"json,omitempty"`
	Error     string          `json:"error,omitempty"`
}

func decode(g golden) result {
	out := result{Name: g.Name, Direction: g.Direction}
	var envelope struct {
		Type *string `json:"type"`
	}
	if err := json.Unmarshal(g.Frame, &envelope); err != nil || envelope.Type == nil {
		out.Error = "no type"
		return out
	}
	variant, value := newValue(g.Direction, *envelope.Type)
	if value == nil {
		out.Error = "not a type of this direction"
		return out
	}
	decoder := json.NewDecoder(bytes.NewReader(g.Frame))
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(value); err != nil {
		out.Error = err.Error()
		return out
	}
	encoded, err := json.Marshal(value)
	if err != nil {
		out.Error = err.Error()
		return out
	}
	out.Variant, out.JSON = variant, encoded
	return out
}

func main() {
	for _, path := range os.Args[1:] {
		text, err := os.ReadFile(path)
		if err != nil {
			panic(err)
		}
		var frames []golden
		if err := json.Unmarshal(text, &frames); err != nil {
			panic(err)
		}
		for _, g := range frames {
			line, _ := json.Marshal(decode(g))
			fmt.Println(string(line))
		}
	}
}

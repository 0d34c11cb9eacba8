// Command webhook is a minimal validating admission webhook for the e2e smoke test. It allows every
// request, adds a warning so callers can see it was consulted, and counts calls at /calls.
package main

import (
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"sync/atomic"
)

type review struct {
	APIVersion string         `json:"apiVersion"`
	Kind       string         `json:"kind"`
	Request    map[string]any `json:"request,omitempty"`
	Response   map[string]any `json:"response,omitempty"`
}

func main() {
	var calls atomic.Int64
	http.HandleFunc("/validate", func(w http.ResponseWriter, r *http.Request) {
		var in review
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Request == nil {
			http.Error(w, "bad AdmissionReview", http.StatusBadRequest)
			return
		}
		n := calls.Add(1)
		log.Printf("admission call %d: %v %v", n, in.Request["operation"], in.Request["name"])
		out := review{APIVersion: in.APIVersion, Kind: in.Kind, Response: map[string]any{
			"uid": in.Request["uid"], "allowed": true,
			"warnings": []string{"e2e-webhook: seen by the smoke-test webhook"},
		}}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(out)
	})
	http.HandleFunc("/calls", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, calls.Load()) })
	dir := os.Getenv("TLS_DIR")
	log.Fatal(http.ListenAndServeTLS(":8443", dir+"/tls.crt", dir+"/tls.key", nil))
}

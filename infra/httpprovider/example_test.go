package httpprovider_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log"
	"net/http"
	"time"

	"github.com/downloadcenter/dc/infra/httpprovider"
)

// A business service written in Go checks each request with Verify before
// answering with a page.
func ExampleVerify() {
	secret := "change-me-to-a-long-random-secret"
	handler := func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
		if err != nil {
			http.Error(w, "cannot read body", http.StatusBadRequest)
			return
		}
		err = httpprovider.Verify(secret, r.Header, body, time.Now(), httpprovider.DefaultMaxSkew)
		if err != nil {
			log.Printf("task %s: refused: %v", r.Header.Get(httpprovider.HeaderTaskID), err)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"rows":        []map[string]any{{"id": 1, "total": "12.50", "issued_at": "2026-01-02T03:04:05Z"}},
			"next_cursor": nil,
		})
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /export/invoices", handler)
	_ = &http.Server{Addr: "127.0.0.1:8081", Handler: mux} // ListenAndServe in a real service

	// What the worker sends, request id "req_1" signed at ts:
	body := []byte(`{"type":"invoices","params":{"year":2026},"cursor":null,"limit":5000}`)
	ts := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	h := http.Header{}
	h.Set(httpprovider.HeaderID, "req_1")
	h.Set(httpprovider.HeaderTimestamp, fmt.Sprint(ts.Unix()))
	h.Set(httpprovider.HeaderSignature, httpprovider.Sign(secret, "req_1", ts.Unix(), body))
	fmt.Println(httpprovider.Verify(secret, h, body, ts.Add(time.Minute), 0))
	fmt.Println(httpprovider.Verify(secret, h, body, ts.Add(time.Hour), 0))
	// Output:
	// <nil>
	// timestamp outside the tolerance: 1767323045 is 3600s from now, more than 5m0s
}

package apiclient

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var now = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

func TestFailureRetryAfter(t *testing.T) {
	tests := []struct {
		name   string
		header string
		want   time.Duration
		wantOK bool
	}{
		{name: "none", header: "", wantOK: false},
		{name: "seconds", header: "7", want: 7 * time.Second, wantOK: true},
		{name: "negative", header: "-1", wantOK: false},
		{name: "date", header: "Wed, 01 May 2024 12:00:30 GMT", want: 30 * time.Second, wantOK: true},
		{name: "past date", header: "Wed, 01 May 2024 11:00:00 GMT", want: 0, wantOK: true},
		{name: "junk", header: "soon", wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{Header: http.Header{}}
			if tt.header != "" {
				resp.Header.Set("Retry-After", tt.header)
			}
			got, ok := Failure{Response: resp, Now: now}.RetryAfter()
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("RetryAfter(%q) = %v, %v, want %v, %v", tt.header, got, ok, tt.want, tt.wantOK)
			}
		})
	}
}

// TestCredentialsStayOnTheAPIHost follows a redirect to another host: the
// token and the API's headers must not go with it.
func TestCredentialsStayOnTheAPIHost(t *testing.T) {
	type seen struct{ Host, Auth, Version, Accept string }
	var (
		mu   sync.Mutex
		got  []seen
		blob *httptest.Server
	)
	record := func(host string, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, seen{host, r.Header.Get("Authorization"), r.Header.Get("X-Api-Version"), r.Header.Get("Accept")})
	}
	blob = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record("storage", r)
		io.WriteString(w, "log\n")
	}))
	defer blob.Close()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		record("api", r)
		http.Redirect(w, r, blob.URL+"/blob", http.StatusFound)
	}))
	defer srv.Close()
	h := http.Header{}
	h.Set("X-Api-Version", "2")
	c, err := New(Config{BaseURL: srv.URL, Token: " secret ", Header: h, FollowRedirects: true})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Get(context.Background(), c.URL("/log").String(), "")
	if err != nil {
		t.Fatalf("Get() error = %v", err)
	}
	resp.Body.Close()
	mu.Lock()
	defer mu.Unlock()
	want := []seen{{Host: "api", Auth: "Bearer secret", Version: "2"}, {Host: "storage"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("headers sent mismatch (-want +got):\n%s", diff)
	}
}

func TestRetries(t *testing.T) {
	errPolicy := errors.New("policy says stop")
	tests := []struct {
		name       string
		retryAfter []string // Retry-After of each 429 the server answers
		maxRetries int
		retry      func(Failure) (time.Duration, bool, error)
		wantWaits  []time.Duration
		wantErr    string
	}{
		{
			name:       "waits as asked",
			retryAfter: []string{"1", "2"},
			wantWaits:  []time.Duration{time.Second, 2 * time.Second},
		},
		{
			name:       "the retry count comes before the wait limit",
			retryAfter: []string{"1", "3600"},
			maxRetries: 1,
			wantWaits:  []time.Duration{time.Second},
			wantErr:    "gave up after 2 attempts: HTTP 429 Too Many Requests",
		},
		{
			name:       "wait limit",
			retryAfter: []string{"3600"},
			wantErr:    "server asks to wait 1h0m0s, longer than the 2m0s limit: HTTP 429",
		},
		{
			name:       "policy error",
			retryAfter: []string{"1"},
			retry:      func(Failure) (time.Duration, bool, error) { return 0, false, errPolicy },
			wantErr:    errPolicy.Error(),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if i := int(n.Add(1)) - 1; i < len(tt.retryAfter) {
					w.Header().Set("Retry-After", tt.retryAfter[i])
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
				io.WriteString(w, "ok")
			}))
			defer srv.Close()
			var waits []time.Duration
			c, err := New(Config{
				BaseURL: srv.URL,
				Retry:   tt.retry,
				Options: Options{
					MaxRetries: tt.maxRetries,
					Now:        func() time.Time { return now },
					Sleep: func(_ context.Context, d time.Duration) error {
						waits = append(waits, d)
						return nil
					},
				},
			})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := c.Get(context.Background(), c.URL("/").String(), "")
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("Get() error = %v, want containing %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Errorf("Get() error = %v", err)
			} else {
				resp.Body.Close()
			}
			if diff := cmp.Diff(tt.wantWaits, waits); diff != "" {
				t.Errorf("waits mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestOpenFreesItsSlotOnce(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "log\n")
	}))
	defer srv.Close()
	c, err := New(Config{BaseURL: srv.URL, Options: Options{Concurrency: 1}})
	if err != nil {
		t.Fatal(err)
	}
	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	first, err := c.Open(context.Background(), srv.URL, "", "read")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Open(canceled, srv.URL, "", "read"); !errors.Is(err, context.Canceled) {
		t.Errorf("Open() while the only slot is taken = %v, want context.Canceled", err)
	}
	first.Close()
	first.Close()
	held, err := c.Open(context.Background(), srv.URL, "", "read")
	if err != nil {
		t.Fatalf("Open() after Close = %v", err)
	}
	defer held.Close()
	if _, err := c.Open(canceled, srv.URL, "", "read"); !errors.Is(err, context.Canceled) {
		t.Errorf("Open() after a double Close = %v, want context.Canceled", err)
	}
}

func TestNewRejectsBaseURL(t *testing.T) {
	for _, raw := range []string{"", "ftp://example.com", "https://", "example.com/api"} {
		if _, err := New(Config{BaseURL: raw}); err == nil || !strings.Contains(err.Error(), "is not an http(s) URL") {
			t.Errorf("New(BaseURL: %q) error = %v, want not an http(s) URL", raw, err)
		}
	}
}

// Command echo is the backend of the test cluster's LoadBalancer Services: an HTTP server that
// answers every request with the Pod and node that served it and the client address it saw
// (which shows whether kube-proxy kept the client's source address). On SIGTERM it keeps serving
// for SHUTDOWN_DELAY (default 2s), as a well-behaved backend does while its endpoint is withdrawn,
// then stops.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	addr := ":8080"
	if a := os.Getenv("LISTEN"); a != "" {
		addr = a
	}
	pod, node := os.Getenv("POD_NAME"), os.Getenv("NODE_NAME")
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "pod=%s node=%s client=%s\n", pod, node, r.RemoteAddr)
	})
	srv := &http.Server{Addr: addr, Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT)
		<-sigs
		delay := 2 * time.Second
		if d, err := time.ParseDuration(os.Getenv("SHUTDOWN_DELAY")); err == nil {
			delay = d
		}
		time.Sleep(delay)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}()
	if err := srv.ListenAndServe(); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

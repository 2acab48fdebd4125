// tls_go - a Go HTTPS server and client (crypto/tls, net/http of the
// standard library only) for tests/e2e/test_tls_more_e2e.sh (issue 17:
// Go's crypto/tls).
//
//	tls_go server ADDR CERT KEY    serves HTTPS (HTTP/1.1) on ADDR: every
//	                               path answers 200 "go says PATH"
//	tls_go client [-wait FILE] URL...
//	                               GETs each URL (certificate not checked),
//	                               one connection each, and prints
//	                               "STATUS FIRST-LINE-OF-BODY" per URL;
//	                               with -wait, once FILE exists
package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	if len(os.Args) >= 5 && os.Args[1] == "server" {
		http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "go says %s\n", r.URL.Path)
		})
		s := &http.Server{Addr: os.Args[2], TLSNextProto: map[string]func(*http.Server, *tls.Conn, http.Handler){}}
		fmt.Fprintln(os.Stderr, s.ListenAndServeTLS(os.Args[3], os.Args[4]))
		os.Exit(1)
	}
	if len(os.Args) >= 3 && os.Args[1] == "client" {
		urls := os.Args[2:]
		if len(urls) >= 3 && urls[0] == "-wait" {
			fmt.Println("waiting")
			for {
				if _, err := os.Stat(urls[1]); err == nil {
					break
				}
				time.Sleep(50 * time.Millisecond)
			}
			urls = urls[2:]
		}
		for _, u := range urls {
			t := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}
			c := &http.Client{Transport: t}
			r, err := c.Get(u)
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				os.Exit(1)
			}
			b, _ := io.ReadAll(r.Body)
			r.Body.Close()
			fmt.Printf("%d %s\n", r.StatusCode, strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
		}
		return
	}
	fmt.Fprintln(os.Stderr, "usage: tls_go server ADDR CERT KEY | tls_go client [-wait FILE] URL...")
	os.Exit(2)
}

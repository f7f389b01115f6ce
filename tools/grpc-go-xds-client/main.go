// Command grpc-go-xds-client is a proxyless gRPC application built on grpc-go, for Skiff's end-to-end
// tests (test tooling only; nothing in Skiff's product code is Go). It dials an `xds:///host:port`
// target with grpc-go's xDS resolver and balancers, configured by the standard bootstrap
// (GRPC_XDS_BOOTSTRAP names a file, GRPC_XDS_BOOTSTRAP_CONFIG holds the JSON; grpc-go reads them when
// the process starts, internal/envconfig/xds.go), and with xDS transport credentials
// (google.golang.org/grpc/credentials/xds): a cluster carrying an UpstreamTlsContext is dialled with
// mutual TLS from the bootstrap's certificate providers, any other cluster in plain text.
//
// It calls the one unary method of the test backends, /skiff.e2e.Backend/Who, whose request and
// response are raw bytes (the response is the backend's name), and reports per backend how many RPCs
// it served and every error, as one JSON line:
//
//	{"rpcs":30,"hits":{"echo-1":10,"echo-2":10,"echo-3":10},"errors":[]}
//
// With -n it runs that many RPCs once and exits. Without it, it keeps the channel open and reads one
// JSON command per line on stdin, {"rpcs": N, "metadata": {"x-user": "alice"}}, answering each with a
// report line; the metadata goes on every RPC of the command (a ring-hash route hashes on it).
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	xdscreds "google.golang.org/grpc/credentials/xds"
	"google.golang.org/grpc/mem"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	// Registers the xds:/// resolver, the xDS balancers and the file_watcher certificate provider.
	_ "google.golang.org/grpc/xds"
)

// sourceHash is set by build.sh (-ldflags -X) to the hash of this module's sources, so the build
// script and the tests can tell a binary built from other sources.
var sourceHash = "unset"

const whoMethod = "/skiff.e2e.Backend/Who"

// rawCodec sends and receives the backends' raw bytes. Its name is "proto" so the request carries the
// ordinary gRPC content type; the backends do not look at the bytes' format.
type rawCodec struct{}

func (rawCodec) Marshal(v any) (mem.BufferSlice, error) {
	b, ok := v.(*[]byte)
	if !ok {
		return nil, fmt.Errorf("raw codec: cannot marshal %T", v)
	}
	return mem.BufferSlice{mem.SliceBuffer(*b)}, nil
}

func (rawCodec) Unmarshal(data mem.BufferSlice, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("raw codec: cannot unmarshal into %T", v)
	}
	*b = data.Materialize()
	return nil
}

func (rawCodec) Name() string { return "proto" }

// command is one line of stdin.
type command struct {
	RPCs     int               `json:"rpcs"`
	Metadata map[string]string `json:"metadata,omitempty"`
}

// report is one line of stdout.
type report struct {
	RPCs   int            `json:"rpcs"`
	Hits   map[string]int `json:"hits"`
	Errors []string       `json:"errors"`
}

func run(conn *grpc.ClientConn, cmd command, timeout time.Duration) report {
	out := report{RPCs: cmd.RPCs, Hits: map[string]int{}, Errors: []string{}}
	for i := 0; i < cmd.RPCs; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), timeout)
		if len(cmd.Metadata) > 0 {
			pairs := make([]string, 0, 2*len(cmd.Metadata))
			keys := make([]string, 0, len(cmd.Metadata))
			for k := range cmd.Metadata {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				pairs = append(pairs, k, cmd.Metadata[k])
			}
			ctx = metadata.AppendToOutgoingContext(ctx, pairs...)
		}
		req := []byte("who")
		var resp []byte
		err := conn.Invoke(ctx, whoMethod, &req, &resp, grpc.ForceCodecV2(rawCodec{}))
		cancel()
		if err != nil {
			st := status.Convert(err)
			out.Errors = append(out.Errors, fmt.Sprintf("%s: %s", st.Code(), st.Message()))
			continue
		}
		out.Hits[string(resp)]++
	}
	return out
}

func main() {
	target := flag.String("target", "", "the xds:///host:port target to call")
	rpcs := flag.Int("n", 0, "run this many RPCs, print one report and exit (0: read commands from stdin)")
	timeout := flag.Duration("timeout", 5*time.Second, "deadline of each RPC")
	version := flag.Bool("version", false, "print the grpc-go version and the source hash, then exit")
	flag.Parse()
	if *version {
		fmt.Printf("grpc-go-xds-client grpc-go v%s source %s\n", grpc.Version, sourceHash)
		return
	}
	if *target == "" {
		fmt.Fprintln(os.Stderr, "grpc-go-xds-client: -target xds:///host:port is required")
		os.Exit(2)
	}
	if os.Getenv("GRPC_XDS_BOOTSTRAP") == "" && os.Getenv("GRPC_XDS_BOOTSTRAP_CONFIG") == "" {
		fmt.Fprintln(os.Stderr, "grpc-go-xds-client: set GRPC_XDS_BOOTSTRAP (a file) or GRPC_XDS_BOOTSTRAP_CONFIG (the JSON) to the xDS bootstrap")
		os.Exit(2)
	}
	// Plain text where the control plane sends no TLS settings: the fallback gRFC A29 (xDS-based
	// security) and grpc-go's examples/features/xds/client/main.go give an xDS application.
	creds, err := xdscreds.NewClientCredentials(xdscreds.ClientOptions{FallbackCreds: insecure.NewCredentials()})
	if err != nil {
		fmt.Fprintf(os.Stderr, "grpc-go-xds-client: xds credentials: %v\n", err)
		os.Exit(1)
	}
	conn, err := grpc.NewClient(*target, grpc.WithTransportCredentials(creds))
	if err != nil {
		fmt.Fprintf(os.Stderr, "grpc-go-xds-client: %s: %v\n", *target, err)
		os.Exit(1)
	}
	defer conn.Close()
	// Leave idle now, as a serving application would: the xDS stream opens and the configuration is
	// fetched (ACKed or NACKed) before the first RPC, not on it.
	conn.Connect()

	out := json.NewEncoder(os.Stdout)
	if *rpcs > 0 {
		if err := out.Encode(run(conn, command{RPCs: *rpcs}, *timeout)); err != nil {
			os.Exit(1)
		}
		return
	}
	in := bufio.NewReader(os.Stdin)
	for {
		line, err := in.ReadBytes('\n')
		if len(line) > 0 {
			var cmd command
			if jerr := json.Unmarshal(line, &cmd); jerr != nil {
				fmt.Fprintf(os.Stderr, "grpc-go-xds-client: bad command %q: %v\n", line, jerr)
				os.Exit(2)
			}
			if eerr := out.Encode(run(conn, cmd, *timeout)); eerr != nil {
				os.Exit(1)
			}
		}
		if err == io.EOF {
			return
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "grpc-go-xds-client: stdin: %v\n", err)
			os.Exit(1)
		}
	}
}

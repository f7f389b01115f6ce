// Command istiod-reference prints what istiod generates for a proxy, so Skiff's output can be
// compared with the real thing (Skiff's parity suite, libs/istiod-parity).
//
// It runs Istio's own in-process discovery server (pilot/test/xds.NewFakeDiscoveryServer in
// istio/istio, the server istiod's unit tests use) on the YAML of each case, connects to it over
// ADS the way a proxy does (node id, metadata, locality) and prints every resource it answers as
// proto-JSON. Objects that Istio's validation refuses are left out and listed, as the admission
// webhook would refuse them. Feature flags are istiod's environment variables, read at start.
//
// `istiod-reference serve` runs the same server on a TCP port instead (serve.go).
//
// Input (standard input, JSON):
//
//	{"cases": [{"name": "...", "config": "<YAML>", "meshConfig": "<YAML, optional>",
//	            "proxies": [{"name": "...", "id": "sidecar~10.0.0.1~app.ns~ns.svc.cluster.local",
//	                         "metadata": {"NAMESPACE": "ns", ...}, "locality": {"region": "r"},
//	                         "listeners": ["host:port", ...]}]}]}
//
// Output (standard output, JSON): the same cases with, per proxy, "clusters", "endpoints",
// "listeners" and "routes" (Envoy proto-JSON), and per case the "rejected" objects.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"runtime/debug"
	"sort"
	"strings"
	"sync"
	"time"

	cluster "github.com/envoyproxy/go-control-plane/envoy/config/cluster/v3"
	core "github.com/envoyproxy/go-control-plane/envoy/config/core/v3"
	endpoint "github.com/envoyproxy/go-control-plane/envoy/config/endpoint/v3"
	listener "github.com/envoyproxy/go-control-plane/envoy/config/listener/v3"
	route "github.com/envoyproxy/go-control-plane/envoy/config/route/v3"
	hcm "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	discovery "github.com/envoyproxy/go-control-plane/envoy/service/discovery/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	kubeyaml "k8s.io/apimachinery/pkg/util/yaml"

	"istio.io/istio/pilot/pkg/config/kube/crd"
	v3 "istio.io/istio/pilot/pkg/xds/v3"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/config/schema/collections"
	"istio.io/istio/pkg/config/schema/resource"
	"istio.io/istio/pkg/log"
)

type input struct {
	Cases []caseInput `json:"cases"`
}

type caseInput struct {
	Name       string       `json:"name"`
	Config     string       `json:"config"`
	MeshConfig string       `json:"meshConfig,omitempty"`
	Proxies    []proxyInput `json:"proxies"`
}

type proxyInput struct {
	Name      string          `json:"name"`
	ID        string          `json:"id"`
	Metadata  map[string]any  `json:"metadata"`
	RawLocal  json.RawMessage `json:"locality,omitempty"`
	Listeners []string        `json:"listeners,omitempty"`
}

type output struct {
	Istio string       `json:"istio"`
	Cases []caseOutput `json:"cases"`
}

type caseOutput struct {
	Name     string        `json:"name"`
	Error    string        `json:"error,omitempty"`
	Rejected []rejected    `json:"rejected"`
	Proxies  []proxyOutput `json:"proxies"`
}

type rejected struct {
	Kind      string `json:"kind"`
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	Error     string `json:"error"`
}

type proxyOutput struct {
	Name      string            `json:"name"`
	Clusters  []json.RawMessage `json:"clusters"`
	Endpoints []json.RawMessage `json:"endpoints"`
	Listeners []json.RawMessage `json:"listeners"`
	Routes    []json.RawMessage `json:"routes"`
}

func main() {
	// istiod's own logs go to standard error only when asked for; standard output is the result.
	if os.Getenv("ISTIOD_REFERENCE_LOG") == "" {
		for _, scope := range log.Scopes() {
			scope.SetOutputLevel(log.NoneLevel)
		}
	}
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		serve(os.Args[2:])
		return
	}
	var in input
	decoder := json.NewDecoder(os.Stdin)
	decoder.DisallowUnknownFields()
	if err := decoder.Decode(&in); err != nil {
		fmt.Fprintf(os.Stderr, "istiod-reference: reading the cases from standard input: %v\n", err)
		os.Exit(2)
	}
	out := output{Istio: istioVersion(), Cases: make([]caseOutput, 0, len(in.Cases))}
	for _, c := range in.Cases {
		out.Cases = append(out.Cases, runCase(c))
	}
	encoder := json.NewEncoder(os.Stdout)
	encoder.SetEscapeHTML(false)
	if err := encoder.Encode(out); err != nil {
		fmt.Fprintf(os.Stderr, "istiod-reference: writing the result: %v\n", err)
		os.Exit(2)
	}
}

// istioVersion is the istio.io/istio module version this binary was built from.
func istioVersion() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	for _, dep := range info.Deps {
		if dep.Path == "istio.io/istio" {
			return dep.Version
		}
	}
	return "unknown"
}

func runCase(c caseInput) (result caseOutput) {
	result = caseOutput{Name: c.Name, Rejected: []rejected{}, Proxies: []proxyOutput{}}
	failer := newFailer()
	defer failer.cleanup()
	defer func() {
		if recovered := recover(); recovered != nil {
			if fatal, ok := recovered.(fatalError); ok {
				result.Error = string(fatal)
			} else {
				result.Error = fmt.Sprintf("istiod panicked: %v\n%s", recovered, debug.Stack())
			}
		}
	}()

	configs, refused, err := parseConfigs(c.Config)
	if err != nil {
		result.Error = err.Error()
		return result
	}
	result.Rejected = refused
	meshConfig := mesh.DefaultMeshConfig()
	if strings.TrimSpace(c.MeshConfig) != "" {
		if meshConfig, err = mesh.ApplyMeshConfigDefaults(c.MeshConfig); err != nil {
			result.Error = fmt.Sprintf("meshConfig: %v", err)
			return result
		}
	}

	server := xds.NewFakeDiscoveryServer(failer, xds.FakeOptions{Configs: configs, MeshConfig: meshConfig})
	// The test server gives its caches 30 s (retry.UntilOrFail); a large mesh needs longer, so a
	// timeout there is tolerated (see failer) and the wait is finished here without a limit.
	for server.Discovery.CommittedUpdates.Load() < server.Discovery.InboundUpdates.Load() {
		time.Sleep(5 * time.Millisecond)
	}

	for _, p := range c.Proxies {
		proxyResult, err := queryProxy(server, p)
		if err != nil {
			result.Error = fmt.Sprintf("proxy %s: %v", p.Name, err)
			return result
		}
		result.Proxies = append(result.Proxies, proxyResult)
	}
	return result
}

// parseConfigs reads every YAML document, keeps the Istio kinds that Istio's validation accepts
// (the admission webhook's ValidateConfig) and lists the rest.
func parseConfigs(text string) ([]config.Config, []rejected, error) {
	decoder := kubeyaml.NewYAMLOrJSONDecoder(bytes.NewReader([]byte(text)), 512*1024)
	now := time.Now()
	var configs []config.Config
	refused := []rejected{}
	for {
		var object crd.IstioKind
		if err := decoder.Decode(&object); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return nil, nil, fmt.Errorf("parsing YAML: %v", err)
		}
		if object.Kind == "" {
			continue
		}
		gvk := object.GroupVersionKind()
		schema, found := collections.PilotGatewayAPI().FindByGroupVersionAliasesKind(resource.FromKubernetesGVK(&gvk))
		if !found {
			refused = append(refused, rejected{Kind: object.Kind, Namespace: object.Namespace, Name: object.Name, Error: "not an Istio kind"})
			continue
		}
		cfg, err := crd.ConvertObject(schema, &object, "")
		if err != nil {
			refused = append(refused, rejected{Kind: object.Kind, Namespace: object.Namespace, Name: object.Name, Error: err.Error()})
			continue
		}
		if cfg.Namespace == "" {
			cfg.Namespace = "default"
		}
		if cfg.CreationTimestamp.IsZero() {
			cfg.CreationTimestamp = now
		}
		if _, err := schema.ValidateConfig(*cfg); err != nil {
			refused = append(refused, rejected{Kind: object.Kind, Namespace: cfg.Namespace, Name: cfg.Name, Error: err.Error()})
			continue
		}
		// An object named again replaces the earlier one, as a second kubectl apply would.
		replaced := false
		for i := range configs {
			if configs[i].GroupVersionKind.Kind == cfg.GroupVersionKind.Kind && configs[i].Namespace == cfg.Namespace && configs[i].Name == cfg.Name {
				configs[i] = *cfg
				replaced = true
			}
		}
		if !replaced {
			configs = append(configs, *cfg)
		}
	}
	return configs, refused, nil
}

var marshal = protojson.MarshalOptions{}

// queryProxy asks the server over ADS as a proxy would: Envoy (CDS wildcard, then EDS for the
// EDS clusters) or proxyless gRPC (LDS for the listeners it names, then RDS, CDS and EDS for what
// those reference, as grpc-js-xds and grpc-go request them).
func queryProxy(server *xds.FakeDiscoveryServer, p proxyInput) (proxyOutput, error) {
	result := proxyOutput{Name: p.Name, Clusters: []json.RawMessage{}, Endpoints: []json.RawMessage{}, Listeners: []json.RawMessage{}, Routes: []json.RawMessage{}}
	node, err := nodeOf(p)
	if err != nil {
		return result, err
	}
	conn, err := grpc.NewClient("passthrough:///bufconn",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(context.Context, string) (net.Conn, error) { return server.BufListener.Dial() }))
	if err != nil {
		return result, err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	stream, err := discovery.NewAggregatedDiscoveryServiceClient(conn).StreamAggregatedResources(ctx)
	if err != nil {
		return result, err
	}
	client := &adsClient{stream: stream, node: node}

	grpcFlavour := p.Metadata["GENERATOR"] == "grpc"
	var clusterNames []string
	if grpcFlavour {
		listeners, err := client.request(v3.ListenerType, p.Listeners)
		if err != nil {
			return result, err
		}
		var routeNames []string
		for _, any := range listeners {
			l := &listener.Listener{}
			if err := any.UnmarshalTo(l); err != nil {
				return result, err
			}
			result.Listeners = append(result.Listeners, mustJSON(l))
			if name := routeConfigName(l); name != "" {
				routeNames = append(routeNames, name)
			}
		}
		if len(routeNames) == 0 {
			// No listener answered: nothing to route (a request with no names would be a wildcard).
			return result, nil
		}
		routes, err := client.request(v3.RouteType, uniqueSorted(routeNames))
		if err != nil {
			return result, err
		}
		for _, any := range routes {
			r := &route.RouteConfiguration{}
			if err := any.UnmarshalTo(r); err != nil {
				return result, err
			}
			result.Routes = append(result.Routes, mustJSON(r))
			clusterNames = append(clusterNames, routeClusters(r)...)
		}
		clusterNames = uniqueSorted(clusterNames)
	}
	if grpcFlavour && len(clusterNames) == 0 {
		return result, nil
	}
	clusters, err := client.request(v3.ClusterType, clusterNames)
	if err != nil {
		return result, err
	}
	var edsNames []string
	for _, any := range clusters {
		c := &cluster.Cluster{}
		if err := any.UnmarshalTo(c); err != nil {
			return result, err
		}
		result.Clusters = append(result.Clusters, mustJSON(c))
		if c.GetType() == cluster.Cluster_EDS {
			name := c.GetEdsClusterConfig().GetServiceName()
			if name == "" {
				name = c.Name
			}
			edsNames = append(edsNames, name)
		}
	}
	if len(edsNames) == 0 {
		return result, nil
	}
	assignments, err := client.request(v3.EndpointType, uniqueSorted(edsNames))
	if err != nil {
		return result, err
	}
	for _, any := range assignments {
		a := &endpoint.ClusterLoadAssignment{}
		if err := any.UnmarshalTo(a); err != nil {
			return result, err
		}
		result.Endpoints = append(result.Endpoints, mustJSON(a))
	}
	return result, nil
}

func nodeOf(p proxyInput) (*core.Node, error) {
	metadata, err := structpb.NewStruct(p.Metadata)
	if err != nil {
		return nil, fmt.Errorf("metadata: %v", err)
	}
	node := &core.Node{Id: p.ID, Metadata: metadata}
	if len(p.RawLocal) > 0 {
		node.Locality = &core.Locality{}
		if err := protojson.Unmarshal(p.RawLocal, node.Locality); err != nil {
			return nil, fmt.Errorf("locality: %v", err)
		}
	}
	return node, nil
}

type adsClient struct {
	stream discovery.AggregatedDiscoveryService_StreamAggregatedResourcesClient
	node   *core.Node
	sent   bool
}

// request sends one request, waits for its response and acknowledges it. The node is sent on the
// first request of the stream only, as Envoy and gRPC do.
func (c *adsClient) request(typeURL string, names []string) ([]*anypb.Any, error) {
	req := &discovery.DiscoveryRequest{TypeUrl: typeURL, ResourceNames: names}
	if !c.sent {
		req.Node = c.node
		c.sent = true
	}
	if err := c.stream.Send(req); err != nil {
		return nil, err
	}
	for {
		resp, err := c.recv()
		if err != nil {
			return nil, fmt.Errorf("%s %v: %v", typeURL, names, err)
		}
		ack := &discovery.DiscoveryRequest{TypeUrl: resp.TypeUrl, ResponseNonce: resp.Nonce, VersionInfo: resp.VersionInfo, ResourceNames: names}
		if resp.TypeUrl != typeURL {
			// A push of another type (the server may push what an earlier request subscribed to).
			continue
		}
		if err := c.stream.Send(ack); err != nil {
			return nil, err
		}
		return resp.Resources, nil
	}
}

// responseTimeout bounds the wait for one response: istiod answers every request it accepts, so a
// silence is a finding, not something to wait out.
const responseTimeout = 20 * time.Second

func (c *adsClient) recv() (*discovery.DiscoveryResponse, error) {
	type received struct {
		resp *discovery.DiscoveryResponse
		err  error
	}
	done := make(chan received, 1)
	go func() {
		resp, err := c.stream.Recv()
		done <- received{resp, err}
	}()
	select {
	case r := <-done:
		return r.resp, r.err
	case <-time.After(responseTimeout):
		return nil, fmt.Errorf("no response within %v", responseTimeout)
	}
}

func routeConfigName(l *listener.Listener) string {
	api := l.GetApiListener().GetApiListener()
	if api == nil {
		return ""
	}
	manager := &hcm.HttpConnectionManager{}
	if err := api.UnmarshalTo(manager); err != nil {
		return ""
	}
	return manager.GetRds().GetRouteConfigName()
}

func routeClusters(r *route.RouteConfiguration) []string {
	var names []string
	for _, host := range r.VirtualHosts {
		for _, rt := range host.Routes {
			action := rt.GetRoute()
			if action == nil {
				continue
			}
			if name := action.GetCluster(); name != "" {
				names = append(names, name)
			}
			for _, weighted := range action.GetWeightedClusters().GetClusters() {
				names = append(names, weighted.Name)
			}
		}
	}
	return names
}

func uniqueSorted(names []string) []string {
	seen := map[string]bool{}
	out := []string{}
	for _, n := range names {
		if !seen[n] {
			seen[n] = true
			out = append(out, n)
		}
	}
	sort.Strings(out)
	return out
}

func mustJSON(m proto.Message) json.RawMessage {
	bytes, err := marshal.Marshal(m)
	if err != nil {
		panic(fatalError(fmt.Sprintf("proto-JSON of %T: %v", m, err)))
	}
	return bytes
}

// fatalError ends a case: the test server reports setup failures through test.Failer.Fatal.
type fatalError string

// failer is the test.Failer the test server needs outside `go test`. A fatal error ends the case,
// except the test server's 30 s wait for its caches, which runCase finishes without a limit.
type failer struct {
	mu       sync.Mutex
	cleanups []func()
	tempDirs []string
}

func newFailer() *failer { return &failer{} }

func (f *failer) Fail()                           { panic(fatalError("istiod test server failed")) }
func (f *failer) FailNow()                        { panic(fatalError("istiod test server failed")) }
func (f *failer) Helper()                         {}
func (f *failer) Log(args ...any)                 {}
func (f *failer) Logf(format string, args ...any) {}
func (f *failer) Skip(args ...any)                { panic(fatalError(fmt.Sprint(args...))) }
func (f *failer) Fatal(args ...any) {
	f.fatal(fmt.Sprint(args...))
}
func (f *failer) Fatalf(format string, args ...any) {
	f.fatal(fmt.Sprintf(format, args...))
}

func (f *failer) fatal(message string) {
	if strings.HasPrefix(message, "retry.UntilOrFail") {
		return
	}
	panic(fatalError(message))
}

func (f *failer) TempDir() string {
	dir, err := os.MkdirTemp("", "istiod-reference-")
	if err != nil {
		panic(fatalError(err.Error()))
	}
	f.mu.Lock()
	f.tempDirs = append(f.tempDirs, dir)
	f.mu.Unlock()
	return dir
}

func (f *failer) Cleanup(fn func()) {
	f.mu.Lock()
	f.cleanups = append(f.cleanups, fn)
	f.mu.Unlock()
}

func (f *failer) cleanup() {
	f.mu.Lock()
	cleanups := f.cleanups
	f.cleanups = nil
	f.mu.Unlock()
	for i := len(cleanups) - 1; i >= 0; i-- {
		cleanups[i]()
	}
	for _, dir := range f.tempDirs {
		_ = os.RemoveAll(dir)
	}
}

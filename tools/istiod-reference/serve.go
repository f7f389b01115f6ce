package main

// The serve mode: istiod's discovery server listening on a TCP port, for benchmarks that measure
// istiod and Skiff to the same point (an ADS response received by the same client).
//
//	istiod-reference serve --config mesh.yaml [--mesh-config mesh-config.yaml] [--addr 127.0.0.1:0] [--debounce 100ms]
//
// Standard output, one JSON object a line: {"event":"ready","address":"127.0.0.1:PORT","startMs":N,
// "configs":N,"rejected":[...]} once istiod has committed its first push context (startMs: from the
// start of the process), then one reply per command. Standard input, one JSON command a line:
//
//	{"id":1,"apply":"<YAML>"}                                          -> {"id":1,"applied":N,"rejected":[...]}
//	{"id":2,"delete":{"kind":"WorkloadEntry","namespace":"ns","name":"n"}} -> {"id":2,"deleted":true}
//
// Objects are created or updated in istiod's config store as a Kubernetes watch would deliver them;
// the store's handlers (the ServiceEntry controller) then push to the connected proxies.

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"istio.io/istio/pilot/pkg/features"
	"istio.io/istio/pilot/test/xds"
	"istio.io/istio/pkg/config"
	"istio.io/istio/pkg/config/mesh"
	"istio.io/istio/pkg/config/schema/collections"
)

type serveCommand struct {
	ID     int64  `json:"id"`
	Apply  string `json:"apply,omitempty"`
	Delete *struct {
		Kind      string `json:"kind"`
		Namespace string `json:"namespace"`
		Name      string `json:"name"`
	} `json:"delete,omitempty"`
}

func serve(args []string) {
	started := time.Now()
	flags := flag.NewFlagSet("serve", flag.ExitOnError)
	configFile := flags.String("config", "", "YAML file with the Istio objects to serve (required)")
	meshConfigFile := flags.String("mesh-config", "", "MeshConfig YAML file (default: istiod's defaults)")
	address := flags.String("addr", "127.0.0.1:0", "address the ADS server listens on")
	// istiod's own default (PILOT_DEBOUNCE_AFTER), not the test server's 0: what a user's istiod does.
	debounce := flags.Duration("debounce", features.DebounceAfter, "push debounce (PILOT_DEBOUNCE_AFTER)")
	_ = flags.Parse(args)
	if *configFile == "" {
		fail("serve: --config is required")
	}
	text, err := os.ReadFile(*configFile)
	if err != nil {
		fail("serve: %v", err)
	}
	configs, refused, err := parseConfigs(string(text))
	if err != nil {
		fail("serve: %s: %v", *configFile, err)
	}
	meshConfig := mesh.DefaultMeshConfig()
	if *meshConfigFile != "" {
		meshText, err := os.ReadFile(*meshConfigFile)
		if err != nil {
			fail("serve: %v", err)
		}
		if meshConfig, err = mesh.ApplyMeshConfigDefaults(string(meshText)); err != nil {
			fail("serve: meshConfig: %v", err)
		}
	}

	failer := newFailer()
	defer failer.cleanup()
	server := xds.NewFakeDiscoveryServer(failer, xds.FakeOptions{
		Configs:         configs,
		MeshConfig:      meshConfig,
		DebounceTime:    *debounce,
		ListenerBuilder: func() (net.Listener, error) { return net.Listen("tcp", *address) },
	})
	for server.Discovery.CommittedUpdates.Load() < server.Discovery.InboundUpdates.Load() {
		time.Sleep(5 * time.Millisecond)
	}

	out := json.NewEncoder(os.Stdout)
	out.SetEscapeHTML(false)
	emit := func(value any) {
		if err := out.Encode(value); err != nil {
			fail("serve: writing: %v", err)
		}
	}
	emit(map[string]any{
		"event": "ready", "address": server.Listener.Addr().String(), "istio": istioVersion(),
		"startMs": time.Since(started).Milliseconds(), "configs": len(configs), "rejected": refused,
	})

	store := server.Store()
	lines := bufio.NewScanner(os.Stdin)
	lines.Buffer(make([]byte, 0, 1<<20), 1<<30)
	for lines.Scan() {
		line := strings.TrimSpace(lines.Text())
		if line == "" {
			continue
		}
		var command serveCommand
		if err := json.Unmarshal([]byte(line), &command); err != nil {
			emit(map[string]any{"error": fmt.Sprintf("not a command: %v", err)})
			continue
		}
		switch {
		case command.Apply != "":
			applied, rejectedNow, err := parseConfigs(command.Apply)
			if err != nil {
				emit(map[string]any{"id": command.ID, "error": err.Error()})
				continue
			}
			for _, cfg := range applied {
				if err := upsert(store, cfg); err != nil {
					emit(map[string]any{"id": command.ID, "error": err.Error()})
					continue
				}
			}
			emit(map[string]any{"id": command.ID, "applied": len(applied), "rejected": rejectedNow})
		case command.Delete != nil:
			schema, found := schemaOfKind(command.Delete.Kind)
			if !found {
				emit(map[string]any{"id": command.ID, "error": fmt.Sprintf("unknown kind %q", command.Delete.Kind)})
				continue
			}
			err := store.Delete(schema.GroupVersionKind(), command.Delete.Name, command.Delete.Namespace, nil)
			emit(map[string]any{"id": command.ID, "deleted": err == nil})
		default:
			emit(map[string]any{"id": command.ID, "error": "expected apply or delete"})
		}
	}
}

type configStore interface {
	Get(typ config.GroupVersionKind, name, namespace string) *config.Config
	Create(config config.Config) (string, error)
	Update(config config.Config) (string, error)
}

// upsert creates the object, or replaces the stored one as a watch event for an update would.
func upsert(store configStore, cfg config.Config) error {
	existing := store.Get(cfg.GroupVersionKind, cfg.Name, cfg.Namespace)
	if existing == nil {
		_, err := store.Create(cfg)
		return err
	}
	// An update keeps the object's creation time, which istiod orders by.
	cfg.CreationTimestamp = existing.CreationTimestamp
	_, err := store.Update(cfg)
	return err
}

func schemaOfKind(kind string) (interface {
	GroupVersionKind() config.GroupVersionKind
}, bool) {
	for _, schema := range collections.PilotGatewayAPI().All() {
		if schema.Kind() == kind {
			return schema, true
		}
	}
	return nil, false
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "istiod-reference: "+format+"\n", args...)
	os.Exit(2)
}

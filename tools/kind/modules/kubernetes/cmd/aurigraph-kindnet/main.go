// aurigraph-kindnet: the pod network of the project's offline kind clusters, in place of kind's kindnetd (whose
// module cannot be fetched from the Go module proxy). It runs as a host-network DaemonSet on every node and does
// what a flat routed network on one L2 segment (the nodes are containers on one Docker network) needs:
//
//   - writes the node's CNI configuration (ptp + host-local on the node's spec.podCIDR, then portmap), so the
//     kubelet turns Ready and pods get addresses;
//   - keeps one route per other node: its podCIDR via its InternalIP;
//   - masquerades traffic from pods to anything outside the cluster's pod subnet (an nftables table of its own).
//
// It does not enforce NetworkPolicy. Environment: NODE_NAME (downward API), POD_SUBNET (the cluster's pod
// subnet), CONTROL_PLANE_ENDPOINT (host:port of the API server, added by kind), CNI_CONFIG
// (/etc/cni/net.d/10-kindnet.conflist), INTERVAL (10s).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

type settings struct {
	node, podSubnet, cniConfig string
	interval                   time.Duration
}

func environment() (settings, error) {
	s := settings{
		node:      os.Getenv("NODE_NAME"),
		podSubnet: os.Getenv("POD_SUBNET"),
		cniConfig: os.Getenv("CNI_CONFIG"),
		interval:  10 * time.Second,
	}
	if s.cniConfig == "" {
		s.cniConfig = "/etc/cni/net.d/10-kindnet.conflist"
	}
	if s.node == "" {
		return s, fmt.Errorf("NODE_NAME is not set (give it from spec.nodeName)")
	}
	if _, _, err := net.ParseCIDR(s.podSubnet); err != nil {
		return s, fmt.Errorf("POD_SUBNET %q is not a CIDR: %v", s.podSubnet, err)
	}
	if value := os.Getenv("INTERVAL"); value != "" {
		d, err := time.ParseDuration(value)
		if err != nil || d <= 0 {
			return s, fmt.Errorf("INTERVAL %q is not a positive duration", value)
		}
		s.interval = d
	}
	return s, nil
}

// conflist is the node's CNI configuration: a veth pair per pod (ptp) with an address from the node's range.
func conflist(podCIDR string) ([]byte, error) {
	config := map[string]any{
		"cniVersion": "1.0.0",
		"name":       "kindnet",
		"plugins": []any{
			map[string]any{
				"type":   "ptp",
				"ipMasq": false,
				"mtu":    1500,
				"ipam": map[string]any{
					"type":    "host-local",
					"dataDir": "/run/cni-ipam-state",
					"routes":  []any{map[string]any{"dst": "0.0.0.0/0"}},
					"ranges":  []any{[]any{map[string]any{"subnet": podCIDR}}},
				},
			},
			map[string]any{"type": "portmap", "capabilities": map[string]any{"portMappings": true}},
		},
	}
	return json.MarshalIndent(config, "", "  ")
}

func writeIfChanged(path string, content []byte) (bool, error) {
	if current, err := os.ReadFile(path); err == nil && bytes.Equal(current, content) {
		return false, nil
	}
	temporary := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(temporary, content, 0o644); err != nil {
		return false, err
	}
	return true, os.Rename(temporary, path)
}

func internalIP(node *corev1.Node) string {
	for _, address := range node.Status.Addresses {
		if address.Type == corev1.NodeInternalIP && net.ParseIP(address.Address).To4() != nil {
			return address.Address
		}
	}
	return ""
}

func run(name string, stdin string, args ...string) error {
	command := exec.Command(name, args...)
	command.Stdin = strings.NewReader(stdin)
	output, err := command.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(output)))
	}
	return nil
}

// masquerade replaces the table that hides pod addresses behind the node's for traffic leaving the pod subnet.
func masquerade(podSubnet string) error {
	rules := fmt.Sprintf(`table ip aurigraph-kindnet
delete table ip aurigraph-kindnet
table ip aurigraph-kindnet {
	chain postrouting {
		type nat hook postrouting priority srcnat; policy accept;
		ip saddr %[1]s ip daddr != %[1]s masquerade
	}
}
`, podSubnet)
	return run("nft", rules, "-f", "-")
}

func reconcile(ctx context.Context, client kubernetes.Interface, s settings, configured *bool) error {
	nodes, err := client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("listing nodes: %w", err)
	}
	for i := range nodes.Items {
		node := &nodes.Items[i]
		if node.Spec.PodCIDR == "" {
			continue
		}
		if node.Name == s.node {
			content, err := conflist(node.Spec.PodCIDR)
			if err != nil {
				return err
			}
			changed, err := writeIfChanged(s.cniConfig, content)
			if err != nil {
				return fmt.Errorf("writing %s: %w", s.cniConfig, err)
			}
			if changed || !*configured {
				log.Printf("CNI configuration for %s (pods %s) in %s", s.node, node.Spec.PodCIDR, s.cniConfig)
				*configured = true
			}
			continue
		}
		ip := internalIP(node)
		if ip == "" {
			continue
		}
		if err := run("ip", "", "route", "replace", node.Spec.PodCIDR, "via", ip); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	log.SetFlags(log.LstdFlags | log.LUTC)
	s, err := environment()
	if err != nil {
		log.Fatalf("aurigraph-kindnet: %v", err)
	}
	// kind adds the API server's address inside the cluster's network, so the pod network does not wait for
	// kube-proxy to make the kubernetes Service reachable.
	if endpoint := os.Getenv("CONTROL_PLANE_ENDPOINT"); endpoint != "" {
		host, port, err := net.SplitHostPort(endpoint)
		if err != nil {
			log.Fatalf("aurigraph-kindnet: CONTROL_PLANE_ENDPOINT %q is not host:port", endpoint)
		}
		os.Setenv("KUBERNETES_SERVICE_HOST", host)
		os.Setenv("KUBERNETES_SERVICE_PORT", port)
	}
	config, err := rest.InClusterConfig()
	if err != nil {
		log.Fatalf("aurigraph-kindnet: in-cluster configuration: %v", err)
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		log.Fatalf("aurigraph-kindnet: %v", err)
	}
	log.Printf("aurigraph-kindnet on %s: pod subnet %s, every %s", s.node, s.podSubnet, s.interval)
	configured := false
	masqueraded := false
	for {
		ctx, cancel := context.WithTimeout(context.Background(), s.interval)
		if !masqueraded {
			if err := masquerade(s.podSubnet); err != nil {
				log.Printf("masquerade: %v", err)
			} else {
				masqueraded = true
			}
		}
		if err := reconcile(ctx, client, s, &configured); err != nil {
			log.Printf("%v", err)
		}
		cancel()
		time.Sleep(s.interval)
	}
}

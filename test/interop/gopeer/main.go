// Command gopeer is the Go reference peer for ironlb's memberlist interop tests: one
// hashicorp/memberlist node that prints its events and periodic member lists as JSON lines
// on stdout. SIGTERM/SIGINT make it Leave, then Shutdown. With -vectors it instead prints
// golden wire vectors (msgpack structs as Go encodes them, Go compress/lzw output) as JSON.
package main

import (
	"bytes"
	"compress/lzw"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hashicorp/go-msgpack/v2/codec"
	"github.com/hashicorp/memberlist"
)

var outMu sync.Mutex

// emit prints one JSON line with a millisecond timestamp.
func emit(m map[string]any) {
	m["t"] = time.Now().UnixMilli()
	b, _ := json.Marshal(m)
	outMu.Lock()
	os.Stdout.Write(append(b, '\n'))
	outMu.Unlock()
}

// logWriter turns memberlist's log lines into JSON "log" events so tests can look for
// "Suspect" or decrypt errors.
type logWriter struct{}

func (logWriter) Write(p []byte) (int, error) {
	emit(map[string]any{"ev": "log", "msg": strings.TrimSpace(string(p))})
	return len(p), nil
}

var stateNames = map[memberlist.NodeStateType]string{
	memberlist.StateAlive: "alive", memberlist.StateSuspect: "suspect",
	memberlist.StateDead: "dead", memberlist.StateLeft: "left",
}

func nodeJSON(n *memberlist.Node) map[string]any {
	return map[string]any{"name": n.Name, "addr": n.Addr.String(), "port": n.Port, "state": stateNames[n.State]}
}

type events struct{}

func (events) NotifyJoin(n *memberlist.Node) {
	emit(map[string]any{"ev": "join", "node": nodeJSON(n)})
}
func (events) NotifyLeave(n *memberlist.Node) {
	emit(map[string]any{"ev": "leave", "node": nodeJSON(n)})
}
func (events) NotifyUpdate(n *memberlist.Node) {
	emit(map[string]any{"ev": "update", "node": nodeJSON(n)})
}

func main() {
	name := flag.String("name", "gopeer", "node name")
	bind := flag.String("bind", "127.0.0.1", "bind and advertise address")
	port := flag.Int("port", 7946, "bind and advertise port (UDP and TCP)")
	preset := flag.String("preset", "lan", "lan | local | fast")
	keyHex := flag.String("key", "", "hex AES key (16/24/32 bytes); empty = no encryption")
	secret := flag.String("metallb-secret", "", "MetalLB-style secret string (key = first 32 bytes of secret || sha256(\"\"))")
	join := flag.String("join", "", "comma-separated host:port list to join")
	label := flag.String("label", "", "packet/stream label")
	compress := flag.Bool("compress", true, "EnableCompression")
	every := flag.Duration("members-every", time.Second, "interval of the members line")
	vectors := flag.Bool("vectors", false, "print golden vectors and exit")
	flag.Parse()

	if *vectors {
		printVectors()
		return
	}

	var conf *memberlist.Config
	switch *preset {
	case "lan":
		conf = memberlist.DefaultLANConfig()
	case "local":
		conf = memberlist.DefaultLocalConfig()
	case "fast":
		// Mirrors ironlb's `fast` preset (packages/memberlist/src/timing.ts).
		conf = memberlist.DefaultLocalConfig()
		conf.ProbeInterval = 100 * time.Millisecond
		conf.ProbeTimeout = 40 * time.Millisecond
		conf.IndirectChecks = 3
		conf.RetransmitMult = 6
		conf.SuspicionMult = 3
		conf.SuspicionMaxTimeoutMult = 2
		conf.PushPullInterval = 10 * time.Second
		conf.GossipInterval = 30 * time.Millisecond
		conf.GossipNodes = 3
		conf.GossipToTheDeadTime = 5 * time.Second
		conf.AwarenessMaxMultiplier = 4
		conf.TCPTimeout = time.Second
	default:
		log.Fatalf("unknown preset %q", *preset)
	}
	conf.Name = *name
	conf.BindAddr = *bind
	conf.BindPort = *port
	conf.AdvertiseAddr = *bind
	conf.AdvertisePort = *port
	conf.EnableCompression = *compress
	conf.Label = *label
	conf.Events = events{}
	conf.Logger = log.New(logWriter{}, "", 0)
	if *keyHex != "" {
		k, err := hex.DecodeString(*keyHex)
		if err != nil {
			log.Fatalf("bad -key: %v", err)
		}
		conf.SecretKey = k
	} else if *secret != "" {
		// MetalLB speakerlist.go: sha256.New().Sum([]byte(secret))[:32] appends the empty digest.
		conf.SecretKey = sha256.New().Sum([]byte(*secret))[:32]
	}

	ml, err := memberlist.Create(conf)
	if err != nil {
		emit(map[string]any{"ev": "error", "msg": err.Error()})
		os.Exit(1)
	}
	emit(map[string]any{"ev": "ready", "name": *name, "addr": *bind, "port": *port})
	if *join != "" {
		n, err := ml.Join(strings.Split(*join, ","))
		m := map[string]any{"ev": "joined", "n": n}
		if err != nil {
			m["err"] = err.Error()
		}
		emit(m)
	}

	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	tick := time.NewTicker(*every)
	for {
		select {
		case <-tick.C:
			var ms []map[string]any
			for _, n := range ml.Members() {
				ms = append(ms, nodeJSON(n))
			}
			emit(map[string]any{"ev": "members", "members": ms, "health": ml.GetHealthScore()})
		case <-sig:
			err := ml.Leave(time.Second)
			m := map[string]any{"ev": "left"}
			if err != nil {
				m["err"] = err.Error()
			}
			emit(m)
			_ = ml.Shutdown()
			emit(map[string]any{"ev": "shutdown"})
			return
		}
	}
}

// Wire structs with memberlist's field names (net.go); only used to print golden vectors.
type ping struct {
	SeqNo      uint32
	Node       string
	SourceAddr []byte `codec:",omitempty"`
	SourcePort uint16 `codec:",omitempty"`
	SourceNode string `codec:",omitempty"`
}
type indirectPingReq struct {
	SeqNo      uint32
	Target     []byte
	Port       uint16
	Node       string
	Nack       bool
	SourceAddr []byte `codec:",omitempty"`
	SourcePort uint16 `codec:",omitempty"`
	SourceNode string `codec:",omitempty"`
}
type ackResp struct {
	SeqNo   uint32
	Payload []byte
}
type nackResp struct{ SeqNo uint32 }
type suspect struct {
	Incarnation uint32
	Node        string
	From        string
}
type alive struct {
	Incarnation uint32
	Node        string
	Addr        []byte
	Port        uint16
	Meta        []byte
	Vsn         []uint8
}
type dead struct {
	Incarnation uint32
	Node        string
	From        string
}
type pushPullHeader struct {
	Nodes        int
	UserStateLen int
	Join         bool
}
type pushNodeState struct {
	Name        string
	Addr        []byte
	Port        uint16
	Meta        []byte
	Incarnation uint32
	State       int
	Vsn         []uint8
}
type compress struct {
	Algo int
	Buf  []byte
}

func enc(v any) string {
	var buf bytes.Buffer
	h := codec.MsgpackHandle{}
	if err := codec.NewEncoder(&buf, &h).Encode(v); err != nil {
		panic(err)
	}
	return hex.EncodeToString(buf.Bytes())
}

func lzwHex(in []byte) string {
	var buf bytes.Buffer
	w := lzw.NewWriter(&buf, lzw.LSB, 8)
	w.Write(in)
	w.Close()
	return hex.EncodeToString(buf.Bytes())
}

func printVectors() {
	vsn := []uint8{1, 5, 2, 0, 0, 0}
	big := bytes.Repeat([]byte("abcabcabdabcabcabd-memberlist-"), 400)
	var seq bytes.Buffer
	for i := 0; i < 6000; i++ {
		seq.WriteByte(byte((i * 7) ^ (i >> 3)))
	}
	out := map[string]string{
		"ping":         enc(ping{SeqNo: 1, Node: "b", SourceAddr: []byte{127, 0, 0, 1}, SourcePort: 7946, SourceNode: "a"}),
		"pingBare":     enc(ping{SeqNo: 300, Node: "node-2"}),
		"indirect":     enc(indirectPingReq{SeqNo: 70000, Target: []byte{10, 0, 0, 2}, Port: 7946, Node: "n2", Nack: true, SourceAddr: []byte{10, 0, 0, 1}, SourcePort: 7946, SourceNode: "n1"}),
		"ack":          enc(ackResp{SeqNo: 5, Payload: nil}),
		"nack":         enc(nackResp{SeqNo: 4294967295}),
		"suspect":      enc(suspect{Incarnation: 200, Node: "x", From: "y"}),
		"alive":        enc(alive{Incarnation: 1, Node: "node-1", Addr: []byte{192, 168, 1, 200}, Port: 7946, Meta: nil, Vsn: vsn}),
		"dead":         enc(dead{Incarnation: 40000, Node: "z", From: "z"}),
		"pushHeader":   enc(pushPullHeader{Nodes: 200, UserStateLen: 0, Join: true}),
		"pushNode":     enc(pushNodeState{Name: "n", Addr: []byte{127, 0, 0, 2}, Port: 7946, Incarnation: 3, State: 2, Vsn: vsn}),
		"compress":     enc(compress{Algo: 0, Buf: []byte{1, 2, 3}}),
		"lzwIn0":       "",
		"lzwOut0":      lzwHex(nil),
		"lzwIn1":       hex.EncodeToString([]byte("TOBEORNOTTOBEORTOBEORNOT")),
		"lzwOut1":      lzwHex([]byte("TOBEORNOTTOBEORTOBEORNOT")),
		"lzwIn2":       hex.EncodeToString(big),
		"lzwOut2":      lzwHex(big),
		"lzwIn3":       hex.EncodeToString(seq.Bytes()),
		"lzwOut3":      lzwHex(seq.Bytes()),
	}
	b, _ := json.MarshalIndent(out, "", "  ")
	fmt.Println(string(b))
}

package tunnel

import "time"

// IKESA is one IKE SA as list-sas reports it.
type IKESA struct {
	Name       string    `json:"name"`
	UniqueID   string    `json:"uniqueid"`
	State      string    `json:"state"` // CONNECTING, ESTABLISHED, REKEYING, DELETING, ...
	Version    string    `json:"version,omitempty"`
	LocalHost  string    `json:"local_host,omitempty"`
	RemoteHost string    `json:"remote_host,omitempty"`
	LocalID    string    `json:"local_id,omitempty"`
	RemoteID   string    `json:"remote_id,omitempty"`
	Initiator  bool      `json:"initiator"`
	SPIInit    string    `json:"initiator_spi,omitempty"`
	SPIResp    string    `json:"responder_spi,omitempty"`
	Children   []ChildSA `json:"children"`
}

// ChildSA is one CHILD SA of an IKE SA.
type ChildSA struct {
	Name       string   `json:"name"`
	UniqueID   string   `json:"uniqueid"`
	State      string   `json:"state"` // INSTALLED, REKEYING, DELETING, ...
	Mode       string   `json:"mode,omitempty"`
	Encap      bool     `json:"encap"`
	SPIIn      string   `json:"spi_in,omitempty"`
	SPIOut     string   `json:"spi_out,omitempty"`
	LocalTS    []string `json:"local_ts"`
	RemoteTS   []string `json:"remote_ts"`
	BytesIn    uint64   `json:"bytes_in"`
	BytesOut   uint64   `json:"bytes_out"`
	PacketsIn  uint64   `json:"packets_in"`
	PacketsOut uint64   `json:"packets_out"`
}

// State is a gateway's SAs for one connection at one moment.
type State struct {
	Gateway    string    `json:"gateway"`
	Connection string    `json:"connection"`
	IKESAs     []IKESA   `json:"ike_sas"`
	ObservedAt time.Time `json:"-"`
}

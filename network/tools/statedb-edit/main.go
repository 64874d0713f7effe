// statedb-edit plays an attacker with write access to one peer's disk: it rewrites a value in
// the peer's LevelDB world state directly, bypassing endorsement, ordering and validation.
// Tests use it to show that such a peer cannot change what the other peers return. The peer must
// be stopped (LevelDB holds a lock). Built from the Fabric source tree with its vendored goleveldb.
//
//	statedb-edit <stateLeveldb dir> <channel> <chaincode> <key> <from> <to>
//
// replaces every <from> in the value of <key> with <to> (same length, so the stored record keeps
// its encoding) and prints how many bytes changed.
package main

import (
	"bytes"
	"fmt"
	"os"

	"github.com/syndtr/goleveldb/leveldb"
)

func main() {
	if len(os.Args) != 7 {
		fmt.Fprintln(os.Stderr, "usage: statedb-edit <stateLeveldb dir> <channel> <chaincode> <key> <from> <to>")
		os.Exit(2)
	}
	dir, channel, chaincode, key, from, to := os.Args[1], os.Args[2], os.Args[3], os.Args[4], []byte(os.Args[5]), []byte(os.Args[6])
	if len(from) != len(to) || len(from) == 0 {
		fmt.Fprintln(os.Stderr, "<from> and <to> must be non-empty and of the same length")
		os.Exit(2)
	}
	db, err := leveldb.OpenFile(dir, nil)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	defer db.Close()
	// leveldbhelper: <db name> 0x00 <key>; stateleveldb: 'd' <namespace> 0x00 <key>
	levelKey := append(append([]byte(channel), 0x00, 'd'), append(append([]byte(chaincode), 0x00), []byte(key)...)...)
	value, err := db.Get(levelKey, nil)
	if err != nil {
		fmt.Fprintf(os.Stderr, "key %s of %s/%s: %v\n", key, channel, chaincode, err)
		os.Exit(1)
	}
	edited := bytes.ReplaceAll(value, from, to)
	if bytes.Equal(edited, value) {
		fmt.Fprintf(os.Stderr, "%q does not occur in the value of %s\n", from, key)
		os.Exit(1)
	}
	if err := db.Put(levelKey, edited, nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Println(bytes.Count(value, from) * len(from))
}

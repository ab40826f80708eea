package pollnet

import "errors"

// errMissingAddress is package net's error for a dial without an address.
var errMissingAddress = errors.New("missing address")

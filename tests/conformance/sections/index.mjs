// The sections of the suite, in PROTOCOL.md's order. Each file holds the
// cases of one part of the contract and exports
//   {key, title, protocol, cases: [{key, title, run(ctx), exclusive?, last?, timeoutMs?}]}
// `protocol` is the version that introduced the section: the kit runs the
// sections of the version given with --protocol (1.0 by default) and older.
// A 1.1 section (PROTOCOL.md §5-§8) is a new file here with protocol '1.1'.
import http from './1-http.mjs';
import open from './2-opening.mjs';
import requests from './2-requests.mjs';
import events from './2-events.mjs';
import errors from './2-errors.mjs';
import close from './2-close.mjs';
import guarantees from './3-guarantees.mjs';

export const sections = [http, open, requests, events, errors, close, guarantees];

// Node >= 12 breaks kurento-client's explicit transactions inside its use of
// `domain`; without `Domain` the client falls back to its own FakeDomain.
// Load before kurento-client (node -r, or require first).
require('domain').Domain = undefined;

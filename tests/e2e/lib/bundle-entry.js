// Browser bundle of the official clients, exposed as the tutorials use them.
window.kurentoClient = require('kurento-client');
window.kurentoUtils = require('kurento-utils');

// Browser bundle of the official clients, exposed as the tutorials use them,
// with the vision modules' and the example module's clients registered
// (their tutorials load them).
window.kurentoClient = require('kurento-client');
window.kurentoUtils = require('kurento-utils');
window.kurentoClient.register(require('kurento-module-chroma'));
window.kurentoClient.register(require('kurento-module-crowddetector'));
window.kurentoClient.register(require('kurento-module-platedetector'));
window.kurentoClient.register(require('kurento-module-pointerdetector'));
window.kurentoClient.register(require('kurento-module-datachannelexample'));

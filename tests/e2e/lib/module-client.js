// A kurento-client module generated from a kmd at run time, in the shape
// Kurento's module creator generates the kurento-module-<name> packages: a
// constructor per class inheriting its parent's, a method per kmd method and
// get/set per property that send the operation with `_invoke`, the
// constructor's parameters and the class's events. Register it with
// kurento.register(clientModule(kmd)).
'use strict';
const kurento = require('kurento-client');
const inherits = require('inherits');

const noop = (error, result) => result;

/** Sends `operation` with `params`; the optional leading Transaction and trailing callback as generated methods take them. */
function invoker(operation, names) {
  return function invoke(...args) {
    const transaction = args[0] instanceof kurento.TransactionsManager.Transaction ? args.shift() : undefined;
    const callback = typeof args[args.length - 1] === 'function' ? args.pop() : noop;
    const params = {};
    names.forEach((name, i) => { if (args[i] !== undefined) params[name] = args[i]; });
    return kurento.disguise(this._invoke(transaction, operation, params, callback.bind(this)), this);
  };
}

function clientModule(kmd) {
  const module = { name: kmd.name, version: kmd.version };
  const find = (name) => {
    const bare = name.replace(/^.*\./, '');
    return module[bare] || kurento.register.abstracts[bare] || kurento.register.classes[bare];
  };
  for (const c of kmd.remoteClasses || []) {
    const Parent = find(c.extends || 'MediaObject');
    const Class = function () { Class.super_.call(this); };
    Object.defineProperty(Class, 'name', { value: c.name });
    inherits(Class, Parent);
    for (const m of c.methods || []) Class.prototype[m.name] = invoker(m.name, (m.params || []).map((p) => p.name));
    for (const p of c.properties || []) {
      const up = p.name[0].toUpperCase() + p.name.slice(1);
      Class.prototype[`get${up}`] = invoker(`get${up}`, []);
      if (!p.readOnly && !p.final) Class.prototype[`set${up}`] = invoker(`set${up}`, [p.name]);
    }
    Class.constructorParams = Object.fromEntries(((c.constructor && c.constructor.params) || []).map((p) => [p.name, { type: p.type, required: !p.optional }]));
    Class.events = (Parent.events || []).concat(c.events || []);
    module[c.name] = Class;
  }
  return module;
}

module.exports = { clientModule };

/** A JT/T 808 terminal client library: the device side, for tests, the simulator and replay. */
export * from './client.js'
export * from './position.js'

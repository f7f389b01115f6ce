export * from './normalized.js';
export * from './net.js';
export * from './selection.js';

export * from './normalized.js';

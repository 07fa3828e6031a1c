// The content model: chunking, sealing, manifests, links, keyless block lists, and reading files back.
export * from './block-list.js';
export * from './bytes.js';
export * from './chunker.js';
export * from './crypto.js';
export * from './format.js';
export * from './link.js';
export * from './manifest.js';
export * from './open.js';
export * from './seal.js';
export * from './collection-manifest.js';
export * from './collection-open.js';
export * from './collection-seal.js';
export * from './paths.js';

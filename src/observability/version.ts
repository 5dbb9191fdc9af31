/**
 * The bridge's version, as its spans report it (`service.version`). Kept here rather than read from
 * package.json, which lies outside dist/; a test holds the two equal.
 */
export const BRIDGE_VERSION = '0.1.0';

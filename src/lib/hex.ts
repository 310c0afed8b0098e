/** Lower-case hex, two digits a byte: for digests in stream names and derived ids. */
export const toHex = (bytes: Uint8Array): string => Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');

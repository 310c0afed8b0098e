/** What a caught value says: an Error's message, or the value as text (anything may be thrown). */
export const errorMessage = (error: unknown): string => (error instanceof Error ? error.message : String(error));

import { config } from 'zod/mini';
import { en } from 'zod/locales';

// The functions use zod/mini (tree-shaken: the classic API costs a cold start ~30 ms more), which ships no messages:
// the API names problems with zod's English ones. Each schema parses once per container or one small body per
// request, where zod's JIT would only add compile time.
config({ ...en(), jitless: true });

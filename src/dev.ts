// `npm run dev`: the bridge from the TypeScript sources on a laptop, reading settings from .env if present.
import 'dotenv/config';
import './server';

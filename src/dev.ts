// `npm run dev`: the web process from the TypeScript sources, for a laptop with Redis on localhost.
import './server';

import { soon } from './soon';

soon('admin');
